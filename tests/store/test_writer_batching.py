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

from zdr.gateway.recorders import RetainingRecorder
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
    await sink.record_retained(meta(org, decision()), content())    # the org's key, in memory
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


async def test_an_ongoing_exchanges_row_holds_its_final_figures_without_a_second_write(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """The content of a JSON answer is written before its first byte goes out: the row takes
    the duration, and as its time to first byte the same, as of the write; the final figures,
    a few milliseconds later, cost no second job."""
    org = make_org(engine)
    at_write = dataclasses.replace(meta(org, decision()), duration_ms=200, ttfb_ms=None)
    await sink.record_retained(at_write, content(), ongoing=True)
    sizes = count_commits(sink)
    row = stored(engine, at_write.exchange_id)
    assert 200 <= row.duration_ms < 200 + 1000 and row.ttfb_ms == row.duration_ms
    final = dataclasses.replace(at_write, duration_ms=row.duration_ms + 3,
                                ttfb_ms=row.duration_ms + 1)
    waiting = sink.record_metadata(final)
    assert sink.writer.depth == 0           # nothing queued: the row holds these figures
    await waiting
    await sink.flush()
    assert sizes == []
    again = stored(engine, at_write.exchange_id)
    assert (again.duration_ms, again.ttfb_ms, again.outcome, again.input_tokens,
            again.output_tokens) == (row.duration_ms, row.ttfb_ms, "ok", 10, 20)


async def test_an_ongoing_streams_row_keeps_its_time_to_first_byte(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    org = make_org(engine)
    at_write = dataclasses.replace(meta(org, decision()), stream=True, duration_ms=900,
                                   ttfb_ms=40)
    await sink.record_retained(at_write, content(), ongoing=True)
    sizes = count_commits(sink)
    row = stored(engine, at_write.exchange_id)
    assert row.ttfb_ms == 40 and row.duration_ms >= 900
    await sink.record_metadata(dataclasses.replace(at_write, duration_ms=row.duration_ms + 2))
    await sink.flush()
    assert sizes == []


@pytest.mark.parametrize("later", ["outcome", "tokens", "duration", "ttfb"])
async def test_final_figures_that_differ_from_the_ongoing_row_update_it(
    engine: Engine, sink: SqlExchangeSink, later: str
) -> None:
    """What changed after the write (the client left while the last bytes went out, a late
    count, a response that took long to go out) replaces the row's figures."""
    org = make_org(engine)
    at_write = dataclasses.replace(meta(org, decision()), duration_ms=100, ttfb_ms=None)
    await sink.record_retained(at_write, content(), ongoing=True)
    row = stored(engine, at_write.exchange_id)
    final = dataclasses.replace(at_write, duration_ms=row.duration_ms + 1,
                                ttfb_ms=row.ttfb_ms)
    final = {
        "outcome": dataclasses.replace(final, outcome="client_disconnected", status_code=499),
        "tokens": dataclasses.replace(final, output_tokens=21),
        "duration": dataclasses.replace(final, duration_ms=row.duration_ms + 5000),
        "ttfb": dataclasses.replace(final, ttfb_ms=row.ttfb_ms + 400),
    }[later]
    await sink.record_metadata(final)
    await sink.flush()
    again = stored(engine, at_write.exchange_id)
    assert (again.outcome, again.status_code, again.output_tokens, again.duration_ms,
            again.ttfb_ms) == (final.outcome, final.status_code, final.output_tokens,
                               final.duration_ms, final.ttfb_ms)
    assert n_rows(engine, exchanges) == 1 and n_rows(engine, contents) == 1


@pytest.mark.parametrize("size", ["small", "large"])
async def test_a_client_that_hangs_up_during_the_write_gets_its_outcome_stored(
    engine: Engine, sink: SqlExchangeSink, size: str
) -> None:
    """The client leaves while its content commits: the content is still written once, and the
    final metadata (client_disconnected), reported before that commit, is what the row says."""
    org = make_org(engine)
    gate = gate_commits(sink)
    at_write = dataclasses.replace(meta(org, decision()), duration_ms=100, ttfb_ms=None)
    recorder = RetainingRecorder(sink)
    body = content("x" * (100_000 if size == "large" else 10))
    writing = asyncio.ensure_future(recorder.retain(at_write, body))
    await asyncio.sleep(0.05)           # queued (or sealing), its commit held
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    left = dataclasses.replace(at_write, outcome="client_disconnected", status_code=499,
                               duration_ms=180, ttfb_ms=None)
    await recorder.finish(left)
    gate.set()
    await sink.flush()
    deadline = time.monotonic() + 10
    while n_rows(engine, contents) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)       # the large one may still be in the crypto thread
        await sink.flush()
    row = stored(engine, at_write.exchange_id)
    assert (row.outcome, row.status_code, row.duration_ms, row.ttfb_ms) == (
        "client_disconnected", 499, 180, None)
    assert n_rows(engine, exchanges) == 1 and n_rows(engine, contents) == 1
    assert sink.read_content(at_write.exchange_id).content == body


async def test_metadata_is_queued_before_it_is_awaited(
    engine: Engine, sink: SqlExchangeSink
) -> None:
    """`record_metadata` queues the record itself (no coroutine to schedule per exchange)."""
    org = make_org(engine)
    gate = gate_commits(sink)
    await sink.record_metadata(meta(org, decision(zdr=True)))      # starts the writer
    await asyncio.sleep(0.05)                                      # ...which holds it
    waiting = sink.record_metadata(meta(org, decision(zdr=True)))
    assert sink.writer.depth == 1
    await waiting
    gate.set()
    await sink.flush()
    assert n_rows(engine, exchanges) == 2
