"""Content at rest: how a request + response is packed before encryption, and how it is read back.

The packed form is JSON `{"v": 1, "request": …, "response": …}` — each part as text when it is
UTF-8 (the usual case for Messages API bodies and SSE streams), else under `request_b64` /
`response_b64`. An exchange's retained content (record class `content`) of `COMPRESS_BYTES` or
more is stored as one Zstandard frame of that JSON (`pack_compressed`): a 200 KB conversation
becomes 15-25 KB, which the store's writer commits (and fsyncs, and checkpoints) for a fraction of
the CPU and I/O, and which encrypts in a tenth of the time. Flagged content stays plain JSON (the
control plane reads it as text). The plaintext, compressed or not, only ever exists in memory: it
is sealed with the org's data key (`zdr.store.crypto`) bound to the exchange id and record class.
`unpack` reads both forms (a JSON document starts with `{`, a Zstandard frame with its magic
number), so rows written before compression read back as they did.

Public names: `pack`, `pack_compressed`, `unpack`, `read_content(engine, keyring, exchange_id,
now)` and `read_flagged(engine, keyring, exchange_id, now)`. Reading is for authorized callers
only: the control plane checks roles (`trust_safety` for flagged content) before it calls these.
Expired rows are not returned unless a hold covers them (purge may not have run yet).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
import zstandard
from sqlalchemy import Engine, Table, or_, select

from zdr.ports import RetainedContent
from zdr.store.crypto import Keyring, Sealed, record_aad
from zdr.store.db import read_only, utc
from zdr.store.holds import held
from zdr.store.tables import contents, flagged_contents

# Packed content this large or larger is stored compressed (`pack_compressed`). The writer saves
# about 3 µs of CPU per KB not written (SQLite: WAL, fsync, checkpoint); compressing costs about
# 1 µs per KB plus a fixed part, and the store seals content this small on the event loop.
COMPRESS_BYTES = 16 * 1024
# Zstandard's default level: on Messages API JSON both faster and smaller than level 1.
COMPRESS_LEVEL = 3
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_compressors = threading.local()       # a compressor is not shared between threads


def _part(data: bytes, name: str, into: dict[str, Any]) -> None:
    try:
        into[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        into[f"{name}_b64"] = base64.b64encode(data).decode("ascii")


def pack(content: RetainedContent) -> bytes:
    """The packed (JSON) form of an exchange's request and response."""
    packed: dict[str, Any] = {"v": 1}
    _part(content.request, "request", packed)
    _part(content.response, "response", packed)
    return orjson.dumps(packed)


def pack_compressed(content: RetainedContent) -> bytes:
    """`pack`, as one Zstandard frame when it is `COMPRESS_BYTES` or larger."""
    packed = pack(content)
    if len(packed) < COMPRESS_BYTES:
        return packed
    compressor: zstandard.ZstdCompressor | None = getattr(_compressors, "compressor", None)
    if compressor is None:
        compressor = _compressors.compressor = zstandard.ZstdCompressor(level=COMPRESS_LEVEL)
    return compressor.compress(packed)     # one whole frame; its header holds the size


def _unpart(packed: dict[str, Any], name: str) -> bytes:
    if name in packed:
        return str(packed[name]).encode("utf-8")
    return base64.b64decode(packed[f"{name}_b64"])


def unpack(plaintext: bytes) -> RetainedContent:
    """The request and response of a `pack` or `pack_compressed` plaintext."""
    if plaintext.startswith(ZSTD_MAGIC):
        plaintext = zstandard.ZstdDecompressor().decompress(plaintext)
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
