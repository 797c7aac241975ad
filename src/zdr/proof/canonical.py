"""The canonical bytes of a JSON value: RFC 8785 (JSON Canonicalization Scheme).

Every signature and every hash in `zdr.proof` and the audit chain covers these bytes, so anyone
can recompute them from the JSON they were given (any RFC 8785 library, e.g. the `rfc8785`
package used here).

`canonical_record` produces the same bytes much faster for metadata records, whose domain is
narrower (string keys below U+E000, integers of magnitude below 2**53, no floats): orjson with
sorted keys writes exactly RFC 8785 there (tests/proof/test_canonical.py checks it on generated
records). It is used for the Merkle leaves of a statement — a million records a minute
(bench/attest.py) — and falls back to `canonical` for anything outside that domain.
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
    """RFC 8785 bytes of `value` (dicts, lists, str, int, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise NotCanonical(f"not canonical JSON: {type(error).__name__}") from None


def canonical_record(record: dict[str, Any]) -> bytes:
    """`canonical(record)` for a flat record of str/int/bool/None/JSON-data values."""
    for value in record.values():
        if isinstance(value, float) or (
                isinstance(value, int) and not -SAFE_INTEGER <= value <= SAFE_INTEGER):
            return canonical(record)
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical(record)


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
