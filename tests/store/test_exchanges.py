"""SqlExchangeSink: what each decision keeps is written once, encrypted, with its expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from store_data import NOW, classification, content, decision, gate_commits, make_org, meta

from zdr.errors import StoreUnavailable
from zdr.store.crypto import Keyring
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.partitions import partitions_of
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
)


@pytest.fixture
async def sink(engine: Engine, keyring: Keyring) -> AsyncIterator[SqlExchangeSink]:
    store = SqlExchangeSink(engine, keyring, clock=lambda: NOW)
    yield store
    await asyncio.to_thread(store.close)


def count(engine: Engine, table: Any, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


async def test_retained_content_is_encrypted_and_reads_back(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """A standard org's exchange: content row encrypted, expiring per the decision, readable."""
    org = make_org(engine)
    dec = decision()
    m = meta(org, dec, workspace_id="w1")
    await sink.record_retained(m, content("canary-b81c"))
    with engine.connect() as conn:
        row = conn.execute(select(contents)).one()
        ex = conn.execute(select(exchanges)).one()
    assert b"canary-b81c" not in row.ciphertext
    assert row.rule_ids == [hit.id for hit in dec.rules]
    assert row.expires_at.replace(tzinfo=None) == (NOW + timedelta(days=30)).replace(tzinfo=None)
    assert ex.expires_at.replace(tzinfo=None) == (NOW + timedelta(days=400)).replace(tzinfo=None)
    assert (ex.retention, ex.zdr_state, ex.misuse_exception) == ("30d", "none", False)
    stored = sink.read_content(m.exchange_id)
    assert stored is not None and stored.content == content("canary-b81c")
    assert stored.rule_ids == row.rule_ids


async def test_non_utf8_content_round_trips(engine: Engine, sink: SqlExchangeSink) -> None:
    from zdr.ports import RetainedContent

    org = make_org(engine)
    m = meta(org, decision())
    odd = RetainedContent(request=b"\xff\xfe raw", response=b"ok \x00")
    await sink.record_retained(m, odd)
    stored = sink.read_content(m.exchange_id)
    assert stored is not None and stored.content == odd


async def test_zdr_exchange_keeps_metadata_only(engine: Engine, sink: SqlExchangeSink) -> None:
    """A ZDR decision: the exchange row, no content; the sink refuses content for it."""
    org = make_org(engine, zdr=True)
    m = meta(org, decision(zdr=True))
    await sink.record_metadata(m)
    await sink.flush()
    assert count(engine, exchanges, zdr_state="applied") == 1
    assert count(engine, contents) == 0
    with pytest.raises(ValueError, match="keeps no content"):
        await sink.record_retained(m, content())


async def test_each_exchange_is_stored_exactly_once(engine: Engine, sink: SqlExchangeSink) -> None:
    """Repeated and mixed calls for one exchange (retries, both paths) store one row per class."""
    org = make_org(engine)
    m = meta(org, decision(features=frozenset({"code_execution"})))
    await asyncio.gather(
        sink.record_metadata(m), sink.record_retained(m, content()),
        sink.record_retained(m, content()), sink.record_metadata(m),
        sink.record_classification(m, classification(m, flagged=True), content()),
        sink.record_classification(m, classification(m, flagged=True), content()),
    )
    await sink.record_retained(m, content())
    await sink.record_metadata(m)
    await sink.flush()
    for table in (exchanges, contents, classifier_results, flagged_contents, feature_artifacts):
        assert count(engine, table) == 1, table.name


async def test_classification_and_flagged_content(engine: Engine, sink: SqlExchangeSink) -> None:
    """Flagged, even under ZDR: classifier result 7 years, flagged content 2 years, encrypted."""
    org = make_org(engine, zdr=True)
    m = meta(org, decision(zdr=True))
    await sink.record_metadata(m)
    await sink.record_classification(m, classification(m, flagged=True), content("canary-f1"))
    with engine.connect() as conn:
        cr = conn.execute(select(classifier_results)).one()
        fc = conn.execute(select(flagged_contents)).one()
        ex = conn.execute(select(exchanges)).one()
    assert cr.expires_at.date() == (NOW + timedelta(days=2555)).date()
    assert fc.expires_at.date() == (NOW + timedelta(days=730)).date()
    assert b"canary-f1" not in fc.ciphertext and fc.categories == ["violence"]
    assert ex.misuse_exception is True
    assert count(engine, contents) == 0
    flagged = sink.read_flagged(m.exchange_id)
    assert flagged is not None and flagged.content == content("canary-f1")
    assert sink.read_content(m.exchange_id) is None


async def test_unflagged_classification_keeps_no_content(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    org = make_org(engine)
    m = meta(org, decision())
    await sink.record_classification(m, classification(m, flagged=False), None)
    assert count(engine, classifier_results, flagged=False) == 1
    assert count(engine, flagged_contents) == 0
    assert count(engine, exchanges, misuse_exception=False) == 1


async def test_feature_artifacts_expire_by_their_period(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """Artifacts from the decision: container 30 days, files until deleted (None)."""
    org = make_org(engine, zdr=True)
    m = meta(org, decision(zdr=True, features=frozenset({"code_execution", "files"})))
    await sink.record_metadata(m)
    await sink.flush()
    with engine.connect() as conn:
        rows = {r.feature: r.expires_at for r in conn.execute(select(feature_artifacts))}
    assert rows["files"] is None
    assert rows["code_execution"].date() == (NOW + timedelta(days=30)).date()


async def test_expired_content_is_not_read_back(engine: Engine, keyring: Keyring) -> None:
    org = make_org(engine)
    m = meta(org, decision())
    clock = [NOW]
    sink = SqlExchangeSink(engine, keyring, clock=lambda: clock[0])
    try:
        await sink.record_retained(m, content())
        clock[0] = NOW + timedelta(days=31)
        assert sink.read_content(m.exchange_id) is None
    finally:
        sink.close()


async def test_record_metadata_returns_before_commit_and_retained_waits(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """Metadata is fire-and-forget; record_retained returns only after its batch committed."""
    gate = gate_commits(sink)
    org = make_org(engine)
    started = time.monotonic()
    await sink.record_metadata(meta(org, decision()))
    assert time.monotonic() - started < 1.0
    retained = asyncio.ensure_future(sink.record_retained(meta(org, decision()), content()))
    await asyncio.sleep(0.2)
    assert not retained.done()
    gate.set()
    await asyncio.wait_for(retained, 10)
    assert count(engine, contents) == 1 and count(engine, exchanges) == 2


async def test_full_queue_pushes_back_then_fails_closed(engine: Engine, keyring: Keyring) -> None:
    """A bounded queue: a caller waits while it is full, and gets StoreUnavailable if it stays
    full past put_timeout; once the writer drains, callers get through again."""
    sink = SqlExchangeSink(engine, keyring, capacity=2, max_batch=1, put_timeout=0.3)
    gate = gate_commits(sink)
    org = make_org(engine)
    try:
        for _ in range(3):       # one taken by the (blocked) writer, two fill the queue
            await sink.record_metadata(meta(org, decision()))
        await asyncio.sleep(0.1)
        while sink.writer.depth < 2:
            await sink.record_metadata(meta(org, decision()))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="queue is full"):
            await sink.record_metadata(meta(org, decision()))
        assert time.monotonic() - started >= 0.25
        assert sink.writer.full_events >= 1
        waiting = asyncio.ensure_future(sink.record_metadata(meta(org, decision())))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.wait_for(waiting, 5)
        await sink.flush()
    finally:
        gate.set()
        sink.close()


async def test_one_failing_exchange_does_not_fail_its_batch(
    engine: Engine, keyring: Keyring
) -> None:
    """An org whose key was destroyed fails alone; the other exchange of the batch is stored."""
    sink = SqlExchangeSink(engine, keyring, clock=lambda: NOW)
    sink.writer.retry_seconds = 0.1
    good, shredded = make_org(engine), make_org(engine)
    keyring.destroy(shredded)
    try:
        results = await asyncio.gather(
            sink.record_retained(meta(good, decision()), content()),
            sink.record_retained(meta(shredded, decision()), content()),
            return_exceptions=True,
        )
        assert results[0] is None
        assert isinstance(results[1], StoreUnavailable)
        assert count(engine, contents, org_id=good) == 1
        assert count(engine, contents, org_id=shredded) == 0
    finally:
        sink.close()


async def test_postgres_partitions_are_created_on_demand(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """Content rows land in the partition of their expiry day (PostgreSQL only)."""
    org = make_org(engine)
    await sink.record_retained(meta(org, decision()), content())
    await sink.record_retained(meta(org, decision(retention_days=45)), content())
    if engine.dialect.name != "postgresql":
        assert count(engine, contents) == 2
        return
    with engine.connect() as conn:
        days = sorted(partitions_of(conn, "contents"))
    assert days == [(NOW + timedelta(days=30)).date(), (NOW + timedelta(days=45)).date()]
