"""Stored content compression: an exchange's large content is sealed as one Zstandard frame of its
packed JSON and reads back byte for byte; small content and flagged content stay plain JSON; rows
sealed before compression (plain JSON) still read back."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine, Table, select
from store_data import NOW, classification, decision, make_org, meta

from zdr.ports import RetainedContent
from zdr.store.content import (
    COMPRESS_BYTES,
    ZSTD_MAGIC,
    pack,
    pack_compressed,
    unpack,
)
from zdr.store.crypto import Keyring, Sealed, record_aad
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.tables import contents, flagged_contents

CANARY = "CANARY-compressed-content-5e1d"


def conversation(turns: int, tag: str = CANARY) -> RetainedContent:
    """A multi-turn Messages request (as the SDK sends it) and a short answer."""
    messages = [{"role": "user" if i % 2 == 0 else "assistant",
                 "content": f"[{i}] {tag} the quarterly report lists revenue by region. " * 8}
                for i in range(turns)]
    request = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 256,
                          "messages": messages}).encode()
    return RetainedContent(request, b'{"content":[{"type":"text","text":"ok \\u00e9"}]}')


@pytest.fixture
async def sink(engine: Engine, keyring: Keyring) -> AsyncIterator[SqlExchangeSink]:
    store = SqlExchangeSink(engine, keyring, clock=lambda: NOW)
    yield store
    await asyncio.to_thread(store.close)


def opened(engine: Engine, keyring: Keyring, table: Table, exchange_id: str,
           record_class: str) -> bytes:
    """The decrypted plaintext of one exchange's row of `table`."""
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.exchange_id == exchange_id)).one()
    purpose = "content" if record_class == "content" else "flagged"
    return keyring.decrypt(row.org_id, Sealed(row.nonce, row.ciphertext),
                           record_aad(exchange_id, record_class), purpose)


@pytest.mark.parametrize("content", [
    conversation(300),                                              # 200 KB of JSON
    RetainedContent(os.urandom(300_000), b"\xff\xfe not UTF-8"),   # bytes, base64 inside
    RetainedContent(b"x" * COMPRESS_BYTES, b""),
    RetainedContent("é\u2028\U0001f600 \\ \" \x00".encode() * 2000, b"\n\n"),
], ids=["conversation", "binary", "threshold", "escapes"])
def test_large_content_packs_to_a_frame_that_unpacks_byte_for_byte(
        content: RetainedContent) -> None:
    stored = pack_compressed(content)
    assert stored.startswith(ZSTD_MAGIC)
    assert unpack(stored) == content
    assert unpack(pack(content)) == content        # the plain form, as rows sealed before


def test_small_content_stays_plain_json() -> None:
    small = RetainedContent(b'{"messages":[]}', b'{"content":[]}')
    assert pack_compressed(small) == pack(small)
    assert len(pack(RetainedContent(b"x" * (COMPRESS_BYTES - 40), b""))) < COMPRESS_BYTES
    assert pack_compressed(RetainedContent(b"x" * (COMPRESS_BYTES - 40), b"")).startswith(b"{")


def test_each_frame_stands_alone() -> None:
    """Frames from one reused compressor share nothing: each opens without the others (one
    exchange's content can never be needed, or leak, to read another's)."""
    first, second = conversation(100, "FIRST-ORG"), conversation(100, "SECOND-ORG")
    frames = [pack_compressed(first), pack_compressed(second), pack_compressed(first)]
    assert unpack(frames[1]) == second and unpack(frames[2]) == first
    assert frames[0] == frames[2]


def test_compressed_frames_in_threads_read_back() -> None:
    """Sealing runs on the loop and in the crypto thread at once: each has its compressor."""
    from concurrent.futures import ThreadPoolExecutor

    items = [conversation(40 + i, f"T{i}") for i in range(16)]
    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(pack_compressed, items * 4))
    assert [unpack(frame) for frame in frames] == items * 4


async def test_large_retained_content_is_stored_compressed_and_reads_back(
        engine: Engine, keyring: Keyring, sink: SqlExchangeSink) -> None:
    org = make_org(engine)
    m = meta(org, decision())
    content = conversation(300)
    await sink.record_retained(m, content)
    with engine.connect() as conn:
        row = conn.execute(select(contents)).one()
    assert CANARY.encode() not in row.ciphertext
    assert len(row.ciphertext) < len(content.request) // 5
    assert opened(engine, keyring, contents, m.exchange_id, "content").startswith(ZSTD_MAGIC)
    stored = sink.read_content(m.exchange_id)
    assert stored is not None and stored.content == content


async def test_content_sealed_before_compression_still_reads_back(
        engine: Engine, keyring: Keyring, sink: SqlExchangeSink) -> None:
    """A row whose plaintext is the plain JSON (as written before) reads as it did."""
    org = make_org(engine)
    m = meta(org, decision())
    content = conversation(300)
    await sink.record_retained(m, content)
    sealed = keyring.encrypt(org, pack(content), record_aad(m.exchange_id, "content"))
    with engine.begin() as conn:
        conn.execute(contents.update().where(contents.c.exchange_id == m.exchange_id)
                     .values(nonce=sealed.nonce, ciphertext=sealed.ciphertext))
    stored = sink.read_content(m.exchange_id)
    assert stored is not None and stored.content == content


async def test_flagged_content_stays_plain_json(
        engine: Engine, keyring: Keyring, sink: SqlExchangeSink) -> None:
    """The control plane reads flagged content as text: it is never compressed."""
    org = make_org(engine)
    m = meta(org, decision(zdr=True))
    flagged = conversation(300)
    await sink.record_classification(m, classification(m, flagged=True), flagged)
    plaintext = opened(engine, keyring, flagged_contents, m.exchange_id, "flagged_content")
    assert plaintext == pack(flagged)
    found = sink.read_flagged(m.exchange_id)
    assert found is not None and found.content == flagged
