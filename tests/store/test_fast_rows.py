"""The writer's driver-level path stores exactly the rows the SQLAlchemy Core path stores.

The same batches (same sealed content, same clock) are committed once through
`SqlExchangeSink._commit` (Core: dict rows, bind processors) and once through `_commit_driver`
(tuples in bind form, `exec_driver_sql`), on an emptied database each time; every column of
every table the writer touches is then read back in its stored form — on SQLite the raw value
and its storage class (`typeof`), so datetimes and JSON must be byte-identical text; on
PostgreSQL each column's text form (`json` keeps its input text) — and compared.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select
from store_data import classification, decision, make_org, meta
from store_data import content as content_of
from store_reset import reset

from zdr.ports import ClassificationRecord
from zdr.store.crypto import Keyring, Sealed
from zdr.store.db import engine_for, sqlite_datetime
from zdr.store.exchanges import SqlExchangeSink, _Job
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
)

# The writer's tables and, for each, the column the comparison sorts by (serial ids differ
# between the two runs on PostgreSQL: sequences are not reset, so `id` is left out there).
TABLES: list[tuple[Table, str]] = [
    (exchanges, "id"), (contents, "exchange_id"), (classifier_results, "exchange_id"),
    (flagged_contents, "exchange_id"), (feature_artifacts, "exchange_id"),
]
CLOCK = datetime(2026, 11, 25, 12, 0, 7, 123456, tzinfo=UTC)


def stored_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every writer table, every column but serial ids, as stored."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        for table, order in TABLES:
            names = [c.name for c in table.columns
                     if not (c.name == "id" and table is not exchanges)]
            if sqlite:
                cols = ", ".join(f'"{n}", typeof("{n}")' for n in names)
            else:
                cols = ", ".join(f'"{n}"::text' for n in names)
            rows = conn.exec_driver_sql(
                f'SELECT {cols} FROM "{table.name}" ORDER BY "{order}", "feature"'
                if table is feature_artifacts else
                f'SELECT {cols} FROM "{table.name}" ORDER BY "{order}"').all()
            out[table.name] = [tuple(row) for row in rows]
    return out


def sealed(tag: str) -> Sealed:
    return Sealed(nonce=(tag.encode() * 12)[:12], ciphertext=b"\x00\xffcipher-" + tag.encode())


def batches(org: str) -> list[list[_Job]]:
    """Batches covering every row kind and the writer's rules (duplicates, later metadata wins,
    final updates, flagged content, feature artifacts, truncation, odd timestamps)."""
    zdr, standard = decision(zdr=True), decision()
    forever = decision(retention_days=None, override=None)
    with_files = decision(features=frozenset({"files"}))
    plus2 = timezone(timedelta(hours=2))
    a = meta(org, zdr, workspace_id="ws-a")
    b = dataclasses.replace(meta(org, standard), started_at=datetime(2026, 11, 25, 14, 30, 1,
                                                                     999999, tzinfo=plus2),
                            key_id="key-1", stream=True, ttfb_ms=3)
    c = dataclasses.replace(meta(org, zdr), outcome="client_disconnected" + "x" * 40,
                            input_tokens=None, output_tokens=None, duration_ms=None)
    d = meta(org, with_files, workspace_id="ws-d")
    e = dataclasses.replace(meta(org, forever), started_at=datetime(2026, 1, 2, 3, 4, 5))
    f = meta(org, standard)
    g = meta(org, with_files, workspace_id="ws-g")       # only ever a final update
    flagged_a: ClassificationRecord = dataclasses.replace(
        classification(a, flagged=True), not_scored=("size_limit",))    # partly scored
    calm_c = dataclasses.replace(classification(c, flagged=False), scores={"violence": 1},
                                 labels={"violence": 0, "self_harm": 0},  # type: ignore[dict-item]
                                 not_scored=("media_type",))
    later_b = dataclasses.replace(b, duration_ms=987, output_tokens=77, outcome="ok")
    return [
        [_Job(a), _Job(c), _Job(a), _Job(d), _Job(d)],                   # metadata, repeats
        [_Job(b, content=sealed("b")), _Job(e, content=sealed("e")),     # retained
         _Job(f, content=sealed("f")), _Job(f, content=sealed("f2"))],
        [_Job(a, classification=flagged_a, flagged=sealed("fa")),        # classifier + flagged
         _Job(c, classification=calm_c), _Job(c, classification=calm_c)],
        [_Job(later_b, final=True), _Job(dataclasses.replace(later_b, ttfb_ms=4), final=True),
         _Job(dataclasses.replace(f, status_code=499), final=True), _Job(d),
         _Job(g, final=True)],
    ]


def flagged_id(jobs: list[list[_Job]]) -> str:
    return next(job.meta.exchange_id for batch in jobs for job in batch if job.flagged)


def write(sink: SqlExchangeSink, commit: Callable[[Sequence[_Job]], None],
          jobs: list[list[_Job]]) -> None:
    for batch in jobs:
        commit(batch)


@pytest.mark.parametrize("single", [False, True], ids=["batches", "one-job-per-commit"])
def test_driver_rows_equal_core_rows(engine: Engine, keyring: Keyring, single: bool) -> None:
    org = make_org(engine)
    jobs = batches(org)
    if single:
        jobs = [[job] for batch in jobs for job in batch]
    core = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK, driver_sql=False)
    fast = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK, driver_sql=True)
    assert fast.writer._commit == fast._commit_driver
    write(core, core._commit, jobs)
    by_core = stored_rows(engine)
    reset(engine)
    make_org_again(engine, org)
    write(fast, fast._commit_driver, jobs)
    by_driver = stored_rows(engine)
    assert {name: len(rows) for name, rows in by_core.items()} == {
        "exchanges": 7, "contents": 3, "classifier_results": 2, "flagged_contents": 1,
        "feature_artifacts": 2}
    for name in by_core:
        assert by_driver[name] == by_core[name], name
    # The rules the batches exercise, as stored (so equal rows are also the right rows).
    with engine.connect() as conn:
        final_b = conn.exec_driver_sql(
            "SELECT duration_ms, output_tokens, ttfb_ms FROM exchanges WHERE stream").one()
        flagged = conn.exec_driver_sql(
            "SELECT count(*) FROM exchanges WHERE misuse_exception").scalar_one()
    assert tuple(final_b) == (987, 77, 4)
    assert flagged == 1
    # What was not scored is among the labels; a flagged row's categories are categories only.
    with engine.connect() as conn:
        labels = dict(conn.execute(select(classifier_results.c.exchange_id,
                                          classifier_results.c.labels)).all())
        categories = conn.execute(select(flagged_contents.c.categories)).scalars().all()
    assert labels[flagged_id(jobs)]["not_scored:size_limit"] is True
    assert {k for v in labels.values() for k in v if k.startswith("not_scored:")} == {
        "not_scored:size_limit", "not_scored:media_type"}
    assert [c for row in categories for c in row if c.startswith("not_scored:")] == []
    core.close()
    fast.close()


def make_org_again(engine: Engine, org_id: str) -> None:
    from store_data import NOW

    from zdr.store.tables import organizations

    with engine.begin() as conn:
        conn.execute(organizations.insert().values(
            id=org_id, name=f"org-{org_id[:8]}", plan="api", created_at=NOW,
            zdr_status="none", hipaa=False))


def test_sqlite_datetimes_are_stored_as_core_stores_them() -> None:
    """The SQLite bind form is SQLAlchemy's own DATETIME text, microseconds and all."""
    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    process = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    for value in (CLOCK, datetime(9000, 1, 1, tzinfo=UTC), datetime(2026, 3, 4, 5, 6, 7),
                  datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC)):
        assert sqlite_datetime(value) == process(value)


def test_driver_path_only_with_the_store_serializer(tmp_path: Any) -> None:
    """Another JSON serializer would store other text: then the sink keeps to Core."""
    import json

    engine = engine_for(f"sqlite:///{tmp_path / 'other.sqlite3'}", json_serializer=json.dumps)
    keyring = Keyring(engine, bytes(32))
    assert SqlExchangeSink(engine, keyring).driver_sql is False
    with pytest.raises(ValueError, match="driver-level"):
        SqlExchangeSink(engine, keyring, driver_sql=True)
    engine.dispose()


async def test_driver_errors_are_retried_then_isolated_per_job(
    engine: Engine, keyring: Keyring
) -> None:
    """A database error on the driver path is SQLAlchemy's (so the writer retries it), and a
    job that keeps failing fails alone: its neighbour in the batch is committed."""
    from zdr.errors import StoreUnavailable

    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    assert sink.driver_sql
    sink.writer.retry_seconds = 0.05
    sink.writer.idle_linger = 0.2
    retries: list[int] = []
    sink.writer._on_retry = lambda: retries.append(1)
    sizes: list[int] = []
    real = sink.writer._commit

    def counting(jobs: Sequence[_Job]) -> None:
        sizes.append(len(jobs))
        real(jobs)

    sink.writer._commit = counting
    org = make_org(engine)
    good = meta(org, decision(zdr=True))
    bad = dataclasses.replace(meta(org, decision(zdr=True)), org_id=None)  # type: ignore[arg-type]
    try:
        await sink.record_metadata(good)     # lingers: the next two join its batch
        results = await asyncio.gather(
            sink.record_classification(good, classification(good, flagged=False), None),
            sink.record_classification(bad, classification(bad, flagged=False), None),
            return_exceptions=True)
    finally:
        await asyncio.to_thread(sink.close)
    assert results[0] is None
    assert isinstance(results[1], StoreUnavailable)
    assert retries, "the batch's error was not retried"
    assert sizes[0] == 3 and sizes[-2:] == [1, 1], sizes     # the batch, then job by job
    rows = stored_rows(engine)
    assert len(rows["exchanges"]) == 1 and rows["exchanges"][0][0] == good.exchange_id
    assert len(rows["classifier_results"]) == 1


async def test_held_connection_is_replaced_when_dead_and_returned_when_idle(
    engine: Engine, keyring: Keyring
) -> None:
    """The writer keeps its connection between batches; if it died meanwhile (server restart,
    killed backend) the batch is retried on a fresh one, and an idle writer gives it back."""
    from sqlalchemy import text

    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    sink.writer.idle_after = 0.3
    retries: list[int] = []
    sink.writer._on_retry = lambda: retries.append(1)
    org = make_org(engine)
    first, second = meta(org, decision()), meta(org, decision())
    try:
        await sink.record_retained(first, content_of("one"))
        held = sink._held
        assert held is not None
        if engine.dialect.name == "postgresql":
            pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            held.rollback()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            held.connection.dbapi_connection.close()  # type: ignore[union-attr]
        await sink.record_retained(second, content_of("two"))
        assert retries, "the dead connection's failure was not retried"
        assert sink._held is not None and sink._held is not held
        for _ in range(100):            # bounded: idle_after is 0.3 s
            if sink._held is None:
                break
            await asyncio.sleep(0.02)
        assert sink._held is None, "the idle writer kept its connection"
        assert engine.pool.checkedout() == 0       # type: ignore[attr-defined]
    finally:
        await asyncio.to_thread(sink.close)
    rows = stored_rows(engine)
    assert {row[0] for row in rows["exchanges"]} == {first.exchange_id, second.exchange_id}
    assert len(rows["contents"]) == 2


@pytest.mark.parametrize("size", [3, 4, 21, 64, 150])
def test_large_batches_in_multi_row_statements_equal_core_rows(
    engine: Engine, keyring: Keyring, size: int
) -> None:
    """Batches past the multi-row statement sizes (SQLite: 64, 16, 4, then single rows), with
    repeats inside the batch, rows already stored and final-metadata updates of stored rows,
    store what the Core path stores."""
    org = make_org(engine)
    metas = [meta(org, decision(zdr=number % 2 == 0)) for number in range(size)]
    first = [_Job(m) for m in metas[: size // 3]]
    second = [_Job(m) for m in metas] + [_Job(m) for m in metas[::5]] + [
        _Job(m, classification=classification(m, flagged=False)) for m in metas]
    finals = [_Job(dataclasses.replace(m, duration_ms=500 + number, status_code=499,
                                       outcome="client_disconnected", output_tokens=None),
                   final=True) for number, m in enumerate(metas)]
    core = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK, driver_sql=False)
    fast = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK, driver_sql=True)
    write(core, core._commit, [first, second, finals])
    by_core = stored_rows(engine)
    reset(engine)
    make_org_again(engine, org)
    write(fast, fast._commit_driver, [first, second, finals])
    by_driver = stored_rows(engine)
    assert len(by_core["exchanges"]) == size and len(by_core["classifier_results"]) == size
    with engine.connect() as conn:
        durations = conn.exec_driver_sql(
            "SELECT duration_ms FROM exchanges WHERE status_code = 499").scalars().all()
    assert sorted(durations) == list(range(500, 500 + size))
    assert by_driver == by_core
    core.close()
    fast.close()
