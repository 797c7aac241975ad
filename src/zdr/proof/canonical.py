"""The canonical bytes of a JSON value: RFC 8785 (JSON Canonicalization Scheme).

Every signature and every hash in `zdr.proof` and the audit chain covers these bytes, so anyone
can recompute them from the JSON they were given (any RFC 8785 library, e.g. the `rfc8785`
package used here).

The `rfc8785` package is the reference; where orjson with sorted keys is known to write the
same bytes (no floats, integers below 2**53, keys below U+E000), orjson writes them (see
`canonical`). The Merkle leaves of statements splice each distinct decision's canonical bytes
into the record (`zdr.proof.records.LeafEncoder`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785

SAFE_INTEGER = 2**53 - 1


class NotCanonical(ValueError):
    """The value has no RFC 8785 form (a float that is not finite, an integer past 2**53)."""


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes of `value` (dicts, lists, str, int, bool, None).

    Values without floats, with integers of magnitude below 2**53 and keys below U+E000 — every
    audit entry and statement here — are written by orjson with sorted keys, which is RFC 8785
    there (tests/proof/test_canonical.py compares it with `rfc8785` on generated values) and
    about 30x cheaper (bench/attest.py: the keyed audit chain's cost per action); anything else
    goes through the `rfc8785` package."""
    if _plain(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise NotCanonical(f"not canonical JSON: {type(error).__name__}") from None


def _plain(value: Any) -> bool:
    """Is `value` in the domain where orjson's sorted output is RFC 8785?"""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -SAFE_INTEGER <= value <= SAFE_INTEGER
    if isinstance(value, dict):
        return all(isinstance(k, str) and (k.isascii() or max(k) < "\ue000") and _plain(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def instant(moment: datetime) -> str:
    """A UTC instant as it appears in every signed document: `2026-11-25T09:00:00.000000Z`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    """The inverse of `instant` (also accepts any ISO 8601 instant with an offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)
