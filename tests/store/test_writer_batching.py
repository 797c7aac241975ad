"""The writer's batching: one transaction per retained exchange (final metadata folded into the
next batch), metadata-only writes sharing a transaction, awaited writes never held by a linger."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from store_data import NOW, classification, content, decision, gate_commits, make_org, meta

from zdr.store.crypto import Keyring
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.tables import classifier_results, contents, exchanges, feature_artifacts


@pytest.fixture
async def sink(engine: Engine, keyring: Keyring) -> AsyncIterator[SqlExchangeSink]:
    store = SqlExchangeSink(engine, keyring, clock=lambda: NOW)
    yield store
    await asyncio.to_thread(store.close)


def count_commits(sink: SqlExchangeSink) -> list[int]:
    """Wrap the writer's commit; the returned list gets each batch's job count."""
    sizes: list[int] = []
    real = sink.writer._commit

    def counting(jobs: Sequence[Any]) -> None:
        real(jobs)
        sizes.append(len(jobs))

    sink.writer._commit = counting
    return sizes


def stored(engine: Engine, exchange_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(exchanges).where(exchanges.c.id == exchange_id)).one()


def n_rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def test_final_metadata_updates_the_retained_row(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """Durations, tokens and outcome reported after the content write end up in the one row."""
    org = make_org(engine)
    first = meta(org, decision(features=frozenset({"code_execution"})))
    await sink.record_retained(first, content())
    final = dataclasses.replace(first, duration_ms=987, ttfb_ms=12, output_tokens=77,
                                outcome="client_disconnected", status_code=499)
    await sink.record_metadata(final)
    await sink.flush()
    row = stored(engine, first.exchange_id)
    assert (row.duration_ms, row.ttfb_ms, row.output_tokens, row.outcome, row.status_code) == (
        987, 12, 77, "client_disconnected", 499)
    assert n_rows(engine, exchanges) == 1 and n_rows(engine, contents) == 1
    assert n_rows(engine, feature_artifacts) == 1


async def test_unchanged_final_metadata_costs_no_write(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    org = make_org(engine)
    m = meta(org, decision())
    await sink.record_retained(m, content())
    sizes = count_commits(sink)
    await sink.record_metadata(m)
    await sink.flush()
    assert sizes == []          # the flush barrier alone: nothing to commit
    assert stored(engine, m.exchange_id).duration_ms == m.duration_ms


async def test_final_update_rides_with_the_next_exchange(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """One retained exchange after another (concurrency 1): one commit per exchange."""
    org = make_org(engine)
    sizes = count_commits(sink)
    metas = [meta(org, decision()) for _ in range(5)]
    for m in metas:
        await sink.record_retained(m, content())
        await sink.record_metadata(dataclasses.replace(m, duration_ms=1000))
    await sink.flush()
    assert len(sizes) <= 6, sizes       # 5 exchanges (+ the last final update alone, or not)
    assert sum(sizes) == 10
    for m in metas:
        assert stored(engine, m.exchange_id).duration_ms == 1000


async def test_metadata_only_writes_share_a_transaction(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    org = make_org(engine)
    sink.writer.idle_linger = 0.5          # wide, so a slow CI machine still batches them
    sizes = count_commits(sink)
    metas = [meta(org, decision(zdr=True)) for _ in range(20)]
    for m in metas:
        await sink.record_metadata(m)
        await asyncio.sleep(0.001)
    deadline = time.monotonic() + 10
    while sum(sizes) < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sum(sizes) == 20 and len(sizes) <= 2, sizes
    assert n_rows(engine, exchanges) == 20


async def test_awaited_write_does_not_wait_for_the_metadata_linger(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    org = make_org(engine)
    sink.writer.idle_linger = 5.0
    await sink.record_metadata(meta(org, decision(zdr=True)))
    await asyncio.sleep(0.05)             # the writer now lingers on the metadata job
    started = time.monotonic()
    await sink.record_retained(meta(org, decision()), content())
    assert time.monotonic() - started < 2.0
    assert n_rows(engine, exchanges) == 2   # both in the batch the awaited job closed


async def test_classifier_results_share_a_transaction(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """Results a background task awaits are not urgent: they wait for company like metadata."""
    org = make_org(engine)
    sink.writer.idle_linger = 0.5
    sizes = count_commits(sink)
    metas = [meta(org, decision(zdr=True)) for _ in range(10)]

    async def classify_later(number: int) -> None:
        await asyncio.sleep(0.002 * number)
        await sink.record_classification(metas[number], classification(metas[number],
                                                                       flagged=False), None)

    await asyncio.gather(*(classify_later(number) for number in range(10)))
    assert sum(sizes) == 10 and len(sizes) <= 2, sizes
    assert n_rows(engine, classifier_results) == 10


async def test_a_lone_client_write_is_not_held_after_content_and_results_shared_a_batch(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """One client at a time: its content and the previous exchange's classifier result commit
    together, which is not load; the next content write must not linger for company."""
    org = make_org(engine)
    sink.writer.linger = 5.0                 # what an urgent job would wait under load
    sizes = count_commits(sink)
    gate = gate_commits(sink)
    blocker = asyncio.ensure_future(sink.record_retained(meta(org, decision()), content()))
    await asyncio.sleep(0.05)               # the writer is inside the blocker's commit
    previous = meta(org, decision())
    together = asyncio.gather(
        sink.record_retained(meta(org, decision()), content()),
        sink.record_classification(previous, classification(previous, flagged=False), None))
    await asyncio.sleep(0.05)               # both queued behind the blocker
    gate.set()
    await asyncio.gather(blocker, together)
    assert sizes[-1] == 2                    # content + result: one batch
    started = time.monotonic()
    await sink.record_retained(meta(org, decision()), content())
    assert time.monotonic() - started < 2.0
