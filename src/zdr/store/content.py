"""Content at rest: how a request + response is packed before encryption, and how it is read back.

The plaintext is JSON `{"v": 1, "request": …, "response": …}` — each part as text when it is
UTF-8 (the usual case for Messages API bodies and SSE streams), else under `request_b64` /
`response_b64`. It only ever exists in memory: it is sealed with the org's data key
(`zdr.store.crypto`) bound to the exchange id and record class.

Public names: `pack`, `unpack`, `read_content(engine, keyring, exchange_id, now)` and
`read_flagged(engine, keyring, exchange_id, now)`. Reading is for authorized callers only: the
control plane checks roles (`trust_safety` for flagged content) before it calls these.
Expired rows are not returned unless a hold covers them (purge may not have run yet).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, Table, or_, select

from zdr.ports import RetainedContent
from zdr.store.crypto import Keyring, Sealed, record_aad
from zdr.store.db import read_only, utc
from zdr.store.holds import held
from zdr.store.tables import contents, flagged_contents


def _part(data: bytes, name: str, into: dict[str, Any]) -> None:
    try:
        into[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        into[f"{name}_b64"] = base64.b64encode(data).decode("ascii")


def pack(content: RetainedContent) -> bytes:
    packed: dict[str, Any] = {"v": 1}
    _part(content.request, "request", packed)
    _part(content.response, "response", packed)
    return orjson.dumps(packed)


def _unpart(packed: dict[str, Any], name: str) -> bytes:
    if name in packed:
        return str(packed[name]).encode("utf-8")
    return base64.b64decode(packed[f"{name}_b64"])


def unpack(plaintext: bytes) -> RetainedContent:
    packed = orjson.loads(plaintext)
    return RetainedContent(request=_unpart(packed, "request"), response=_unpart(packed, "response"))


@dataclass(frozen=True, slots=True)
class StoredContent:
    exchange_id: str
    org_id: str
    content: RetainedContent
    rule_ids: list[str]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class FlaggedContent:
    exchange_id: str
    org_id: str
    content: RetainedContent
    categories: list[str]
    rule_ids: list[str]
    created_at: datetime
    expires_at: datetime


def _read_live(
    engine: Engine, keyring: Keyring, table: Table, exchange_id: str, now: datetime,
    record_class: str, key_name: Literal["content", "flagged"],
) -> tuple[Any, RetainedContent] | None:
    """The unexpired (or held) row of `table` for one exchange and its decrypted content."""
    query = select(table).where(
        table.c.exchange_id == exchange_id,
        or_(table.c.expires_at > utc(now), held(table)),
    )
    with engine.connect() as conn:
        row = read_only(conn).execute(query).first()
    if row is None:
        return None
    plaintext = keyring.decrypt(row.org_id, Sealed(row.nonce, row.ciphertext),
                                record_aad(exchange_id, record_class), key_name)
    return row, unpack(plaintext)


def read_content(
    engine: Engine, keyring: Keyring, exchange_id: str, now: datetime
) -> StoredContent | None:
    """The decrypted content of one exchange, or None (never kept, expired, purged).

    Raises `KeyDestroyed` when the org's key was crypto-shredded and the row is still there.
    """
    found = _read_live(engine, keyring, contents, exchange_id, now, "content", "content")
    if found is None:
        return None
    row, content = found
    return StoredContent(exchange_id, row.org_id, content, list(row.rule_ids),
                         utc(row.created_at), utc(row.expires_at))


def read_flagged(
    engine: Engine, keyring: Keyring, exchange_id: str, now: datetime
) -> FlaggedContent | None:
    """The decrypted flagged content of one exchange (trust & safety reviewers only), or None."""
    found = _read_live(engine, keyring, flagged_contents, exchange_id, now,
                       "flagged_content", "flagged")
    if found is None:
        return None
    row, content = found
    return FlaggedContent(exchange_id, row.org_id, content, list(row.categories),
                          list(row.rule_ids), utc(row.created_at), utc(row.expires_at))
