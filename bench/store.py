"""Store benchmark: the write path against bare inserts, purge against a plain DELETE.

    .venv/bin/python bench/store.py              # 20k writes, 1M purge rows, both backends
    .venv/bin/python bench/store.py --rows 100000 --writes 5000 --backend sqlite

1. Write throughput: `--writes` exchanges with content (≈2 KB request, ≈1 KB response) through
   `SqlExchangeSink.record_retained` from `--concurrency` coroutines (each call returns once its
   batch committed: the durability the gateway waits for), against a baseline of bare inserts of
   the same rows (exchange + already-encrypted content rows, built by the same code) in
   transactions of `--concurrency` rows, on the same engine, in the same run. Target ≥ 70 %.
2. Writer CPU per exchange (`--only writer-cpu`): CPU time of the sink's writer thread (the
   thread that holds the GIL away from the gateway's event loop) per exchange, driving the sink
   as the gateway does at `--cpu-concurrency` in-flight exchanges with a `--relay-ms` relay each:
   `metadata` (ZDR: `record_metadata`, fire-and-forget), `metadata+classifier` (ZDR: metadata,
   then 2 ms later the awaited classifier result) and `retained` (standard org: awaited
   `record_retained(..., ongoing=True)` as the gateway writes it before the last byte, then the
   final metadata with a later duration). Each round runs the sink
   and a baseline: a bare DBAPI `executemany` of the same rows (pre-built tuples, plain INSERT,
   in as many transactions as the sink committed), its thread's CPU. Alternating rounds,
   medians. (A tree whose sink also has a SQLAlchemy Core write path, `driver_sql=False`, is
   measured on both of its paths.)
3. Purge throughput: `--rows` expired content rows (spread over `--days` expiry days) removed by
   `zdr.store.purge.purge`, against a plain `DELETE FROM … WHERE expires_at < now` of the same
   rows in a table without partitions (and, on PostgreSQL, also on the partitioned table).
   Target on PostgreSQL ≥ 10x.

The PostgreSQL server is a throwaway cluster started from the installed binaries with fsync ON
(durable commits, like production); SQLite runs in WAL mode with synchronous=FULL.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from zdr.catalog import default_catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.store import records
from zdr.store.content import pack
from zdr.store.crypto import Keyring, record_aad
from zdr.store.db import datetime_binder, engine_for, migrate, utc
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.partitions import PartitionManager
from zdr.store.purge import purge
from zdr.store.tables import feature_artifacts, metadata, organizations
from zdr.testing.postgres import running_postgres

MASTER = bytes(range(32))
NOW = datetime.now(UTC).replace(microsecond=0)


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(text("DROP TABLE IF EXISTS contents_plain"))
    PartitionManager(engine).forget()


def make_org(engine: Engine) -> str:
    org_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(organizations.insert().values(
            id=org_id, name=f"bench-{org_id[:8]}", plan="api", created_at=NOW,
            zdr_status="none", hipaa=False))
    return org_id


def workload(org_id: str, n: int) -> list[tuple[ExchangeMetadata, RetainedContent]]:
    catalog = default_catalog()
    dec = decide(RequestFacts(surface="messages", model="claude-sonnet-4-5"),
                 Arrangements(OrgState(plan="api", org_id=org_id)), catalog, NOW)
    prompt = ("Summarise the quarterly report for the board. " * 45).encode()
    answer = ("The quarter closed with revenue up and costs flat. " * 20).encode()
    out = []
    for i in range(n):
        meta = ExchangeMetadata(
            exchange_id=f"ex_{uuid.uuid4().hex}", org_id=org_id, workspace_id=None, key_id=None,
            started_at=NOW, decision=dec, status_code=200, outcome="ok", input_tokens=500,
            output_tokens=250, duration_ms=900, ttfb_ms=300)
        out.append((meta, RetainedContent(b'{"i":%d,"p":"' % i + prompt + b'"}', answer)))
    return out


async def sink_run(engine: Engine, work: list[Any], concurrency: int) -> tuple[float, list[float]]:
    sink = SqlExchangeSink(engine, Keyring(engine, MASTER), max_batch=concurrency)
    latencies: list[float] = []
    queue = list(reversed(work))

    async def worker() -> None:
        while queue:
            meta, content = queue.pop()
            started = time.perf_counter()
            await sink.record_retained(meta, content)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await asyncio.to_thread(sink.close)
    return elapsed, latencies


def bare_run(engine: Engine, work: list[Any], batch: int) -> float:
    """The same rows, built by the same code and encrypted beforehand, inserted plainly."""
    keyring = Keyring(engine, MASTER)
    stamp = datetime_binder(engine.dialect.name)
    now = stamp(utc(NOW))
    rows = []
    for meta, content in work:
        sealed = keyring.encrypt(meta.org_id, pack(content),
                                 record_aad(meta.exchange_id, "content"))
        rows.append((records.exchange_values(meta, stamp),
                     records.content_values(meta, sealed, now, stamp)))
    PartitionManager(engine).ensure("contents", [
        records.expiry(meta, "content") or records.FOREVER for meta, _ in work])
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    statements = [f"INSERT INTO {table} ({', '.join(cols)}) "
                  f"VALUES ({', '.join([mark] * len(cols))})"
                  for table, cols in (("exchanges", records.EXCHANGE_COLUMNS),
                                      ("contents", records.CONTENT_COLUMNS))]
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        with engine.begin() as conn:
            conn.exec_driver_sql(statements[0], [e for e, _c in chunk])
            conn.exec_driver_sql(statements[1], [c for _e, c in chunk])
    return time.perf_counter() - started


def bench_writes(engine: Engine, n: int, concurrency: int, rounds: int) -> dict[str, Any]:
    """Alternate bare and sink rounds (the machine's load drifts); medians of each."""
    bare_rates, sink_rates, lat_all = [], [], []
    for _ in range(rounds):
        reset(engine)
        org = make_org(engine)
        Keyring(engine, MASTER).encrypt(org, b"warm", b"warm")
        bare_rates.append(n / bare_run(engine, workload(org, n), concurrency))
        reset(engine)
        org = make_org(engine)
        Keyring(engine, MASTER).encrypt(org, b"warm", b"warm")
        elapsed, lat = asyncio.run(sink_run(engine, workload(org, n), concurrency))
        sink_rates.append(n / elapsed)
        lat_all.extend(lat)
    lat_all.sort()
    bare, sink = statistics.median(bare_rates), statistics.median(sink_rates)
    return {
        "bare_per_s": bare, "sink_per_s": sink, "ratio": sink / bare,
        "rounds": [round(s / b, 2) for s, b in zip(sink_rates, bare_rates, strict=True)],
        "p50_ms": statistics.median(lat_all) * 1000,
        "p99_ms": lat_all[int(len(lat_all) * 0.99) - 1] * 1000,
    }


# -- writer CPU per exchange ---------------------------------------------------------------------
WORKLOADS = ("metadata", "metadata+classifier", "retained")


def thread_cpu(thread: threading.Thread | None) -> float:
    """CPU seconds a (running) thread has used so far."""
    assert thread is not None and thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def cpu_workload(engine: Engine, kind: str, n: int) -> list[ExchangeMetadata]:
    """`n` exchanges of a ZDR org (metadata kinds) or a standard org (`retained`)."""
    zdr = kind != "retained"
    org_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(organizations.insert().values(
            id=org_id, name=f"bench-{org_id[:8]}", plan="api", created_at=NOW,
            zdr_status="approved" if zdr else "none",
            zdr_effective_at=NOW - timedelta(days=1) if zdr else None, hipaa=False))
    dec = decide(RequestFacts(surface="messages", model="claude-sonnet-4-5"),
                 Arrangements(OrgState(plan="api", org_id=org_id,
                                       zdr_status="approved" if zdr else "none",
                                       zdr_effective_at=NOW - timedelta(days=1) if zdr else None)),
                 default_catalog(), NOW)
    assert dec.allowed and dec.content_kept is not zdr
    return [ExchangeMetadata(
        exchange_id=f"ex_{uuid.uuid4().hex}", org_id=org_id, workspace_id=None, key_id=None,
        started_at=datetime.now(UTC), decision=dec, status_code=200, outcome="ok",
        input_tokens=500, output_tokens=250, duration_ms=900, ttfb_ms=300) for _ in range(n)]


def verdict(meta: ExchangeMetadata) -> ClassificationRecord:
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier="bench",
        classifier_version="1", flagged=False,
        scores={"violence": 0.01, "self_harm": 0.02, "sexual": 0.0, "hate": 0.03},
        labels={"violence": False, "self_harm": False, "sexual": False, "hate": False})


CONTENT = RetainedContent(("Summarise the quarterly report. " * 60).encode(),
                          ("Revenue up, costs flat. " * 40).encode())


async def drive_sink(sink: SqlExchangeSink, kind: str, metas: list[ExchangeMetadata],
                     concurrency: int, relay: float) -> None:
    todo = list(reversed(metas))
    # (a tree from before `ongoing` stored the figures given, then updated them)
    ongoing = ({"ongoing": True}
               if "ongoing" in inspect.signature(sink.record_retained).parameters else {})

    async def exchange(meta: ExchangeMetadata) -> None:
        await asyncio.sleep(relay)
        if kind == "metadata":
            await sink.record_metadata(meta)
        elif kind == "metadata+classifier":
            await sink.record_metadata(meta)
            await asyncio.sleep(0.002)
            await sink.record_classification(meta, verdict(meta), None)
        else:       # as the gateway: written before the last byte, while still under way
            await sink.record_retained(meta, CONTENT, **ongoing)
            await sink.record_metadata(dataclasses.replace(meta, duration_ms=907))

    async def worker() -> None:
        while todo:
            await exchange(todo.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await sink.flush()


class DriverTime:
    """CPU the writer thread spends inside DBAPI calls (execute, executemany, commit) made
    through SQLAlchemy: on SQLite mostly with the GIL released (sqlite3 releases it around each
    step and the commit); the rest of the writer's CPU is Python holding the GIL. On PostgreSQL
    psycopg's own Python (pipeline, adaptation) runs inside these calls, so there it is not
    GIL-free. A writer that sends its statements on the DBAPI cursor itself has only its
    BEGIN and COMMIT counted here: its "outside DBAPI" figure includes the statements."""

    def __init__(self, engine: Engine) -> None:
        self.seconds = 0.0
        self.thread: int | None = None
        self._dialect = engine.dialect
        self._saved = {name: getattr(self._dialect, name)
                       for name in ("do_execute", "do_executemany", "do_commit")}
        for name, real in self._saved.items():
            setattr(self._dialect, name, self._timed(real))

    def _timed(self, real: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self.thread:
                return real(*args, **kwargs)
            started = time.thread_time()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - started
        return timed

    def close(self) -> None:
        for name, real in self._saved.items():
            setattr(self._dialect, name, real)


def sink_cpu(engine: Engine, kind: str, n: int, concurrency: int, relay: float,
             driver_sql: bool | None) -> tuple[float, float, int, float]:
    """Writer-thread CPU seconds (all; outside DBAPI calls), commits and wall seconds for
    `n` exchanges of `kind`."""
    metas = cpu_workload(engine, kind, n)
    keyring = Keyring(engine, MASTER)
    keyring.encrypt(metas[0].org_id, b"warm", b"warm")
    kwargs: dict[str, Any] = {} if driver_sql is None else {"driver_sql": driver_sql}
    sink = SqlExchangeSink(engine, keyring, **kwargs)
    sink.start()
    driver = DriverTime(engine)
    driver.thread = sink.writer._thread.ident if sink.writer._thread else None
    try:
        before, started = thread_cpu(sink.writer._thread), time.perf_counter()
        asyncio.run(drive_sink(sink, kind, metas, concurrency, relay))
        used = thread_cpu(sink.writer._thread) - before
        wall = time.perf_counter() - started
    finally:
        driver.close()
    commits = sink.writer.batches
    sink.close()
    return used, used - driver.seconds, commits, wall


def bare_cpu(engine: Engine, kind: str, n: int, commits: int, wall: float = 0.0) -> float:
    """Thread CPU of a bare DBAPI executemany of the same rows (tuples built beforehand) in
    `commits` transactions spread over `wall` seconds like the sink's (a commit after an idle
    gap costs more CPU than back-to-back ones): the floor for writing these rows from Python."""
    metas = cpu_workload(engine, kind, n)
    keyring = Keyring(engine, MASTER)
    dialect = engine.dialect.name
    stamp = datetime_binder(dialect)
    now = stamp(utc(datetime.now(UTC)))
    mark = "?" if dialect == "sqlite" else "%s"
    tables: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = [
        ("exchanges", records.EXCHANGE_COLUMNS,
         [records.exchange_values(m, stamp) for m in metas])]
    if kind == "metadata+classifier":
        tables.append(("classifier_results", records.CLASSIFIER_COLUMNS,
                       [records.classification_values(m, verdict(m), now, stamp) for m in metas]))
    if kind == "retained":
        rows = [records.content_values(
            m, keyring.encrypt(m.org_id, pack(CONTENT), record_aad(m.exchange_id, "content")),
            now, stamp) for m in metas]
        PartitionManager(engine).ensure("contents", [
            records.expiry(m, "content") or records.FOREVER for m in metas])
        tables.append(("contents", records.CONTENT_COLUMNS, rows))
    statements = [(f"INSERT INTO {name} ({', '.join(cols)}) "
                   f"VALUES ({', '.join([mark] * len(cols))})", rows)
                  for name, cols, rows in tables]
    size = max(1, -(-n // max(commits, 1)))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        begin = "BEGIN IMMEDIATE" if dialect == "sqlite" else None
        gap = wall / max(commits, 1)
        started = time.thread_time()
        for i in range(0, n, size):
            if gap:
                time.sleep(gap)       # idle like the writer between its commits (no CPU)
            if begin:
                cursor.execute(begin)
            for sql, rows in statements:
                cursor.executemany(sql, rows[i:i + size])
            raw.commit() if not begin else cursor.execute("COMMIT")
        return time.thread_time() - started
    finally:
        raw.close()


def has_driver_path() -> bool:
    return hasattr(SqlExchangeSink, "_commit_driver")


def bench_writer_cpu(engine: Engine, n: int, concurrencies: list[int], relay: float,
                     rounds: int) -> list[dict[str, Any]]:
    modes: list[tuple[str, bool | None]] = (
        [("core", False), ("driver", True)] if has_driver_path() else [("default", None)])
    out = []
    for concurrency in concurrencies:
        count = n if concurrency > 1 else max(200, n // 8)
        for kind in WORKLOADS:
            per: dict[str, list[float]] = {name: [] for name, _ in modes}
            python: dict[str, list[float]] = {name: [] for name, _ in modes}
            per["bare"] = []
            batch: list[float] = []
            for _ in range(rounds):
                commits, wall = 1, 0.0
                for name, flag in modes:
                    reset(engine)
                    used, outside, commits, wall = sink_cpu(engine, kind, count, concurrency,
                                                            relay, flag)
                    per[name].append(used / count * 1e6)
                    python[name].append(outside / count * 1e6)
                    batch.append(count / max(commits, 1))
                reset(engine)
                per["bare"].append(bare_cpu(engine, kind, count, commits, wall) / count * 1e6)
            med = {name: statistics.median(v) for name, v in per.items()}
            py = {name: statistics.median(v) for name, v in python.items()}
            row = {"concurrency": concurrency, "workload": kind, "exchanges": count,
                   "us": med, "us_outside_dbapi": py, "rounds": per,
                   "exchanges_per_commit": statistics.median(batch)}
            out.append(row)
            ratios = ", ".join(f"{name} {v:.0f} µs ({v / med['bare']:.1f}x bare; "
                               f"{py[name]:.0f} µs outside DBAPI calls)"
                               for name, v in med.items() if name != "bare")
            gain = (f"; core/driver = {med['core'] / med['driver']:.2f}x all, "
                    f"{py['core'] / py['driver']:.2f}x outside DBAPI calls"
                    if "driver" in med else "")
            print(f"[{engine.dialect.name}] writer CPU per exchange, c={concurrency} {kind}: "
                  f"{ratios}; bare executemany {med['bare']:.0f} µs{gain} (medians of {rounds}; "
                  f"~{row['exchanges_per_commit']:.1f} exchanges/commit)", flush=True)
    return out


# -- purge -------------------------------------------------------------------------------------
def load_expired(
    engine: Engine, org: str, rows: int, days: int, table: str, payload: int
) -> None:
    """`rows` expired content rows, spread evenly over `days` expiry days before NOW, in the
    order they would have been written (rows written later expire later)."""
    first_day = (NOW - timedelta(days=days + 1)).replace(hour=0, minute=0, second=0)
    if engine.dialect.name == "postgresql":
        if table == "contents":
            PartitionManager(engine).ensure(
                "contents", [first_day + timedelta(days=d) for d in range(days)])
        with engine.begin() as conn:
            conn.execute(text(
                f"INSERT INTO {table} (exchange_id, org_id, nonce, ciphertext, rule_ids, "
                "created_at, expires_at) SELECT 'ex_' || g, :org, "
                "decode(substr(md5(g::text), 1, 24), 'hex'), "
                "decode(repeat(md5(g::text), :payload / 16), 'hex'), "
                "'[\"retention.default_period\"]', :created, "
                ":first + (g::bigint * :span / :rows) * interval '1 second' "
                "FROM generate_series(1, :rows) g"
            ), {"org": org, "created": first_day - timedelta(days=30), "first": first_day,
                "span": days * 86400 - 1, "rows": rows, "payload": payload})
        return
    chunk = 50_000
    created = (first_day - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S.000000")
    for start in range(0, rows, chunk):
        values = []
        for g in range(start, min(rows, start + chunk)):
            expires = first_day + timedelta(seconds=g * (days * 86400 - 1) // rows)
            values.append((f"ex_{g}", org, os.urandom(12), os.urandom(payload),
                           '["retention.default_period"]', created,
                           expires.strftime("%Y-%m-%d %H:%M:%S.000000")))
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"INSERT INTO {table} (exchange_id, org_id, nonce, ciphertext, rule_ids, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)", values)


def plain_table(engine: Engine) -> None:
    """`contents` as it would be without partitioning (same columns and indexes)."""
    bigint = "BIGSERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    blob = "BYTEA" if engine.dialect.name == "postgresql" else "BLOB"
    ts = "TIMESTAMPTZ" if engine.dialect.name == "postgresql" else "DATETIME"
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE contents_plain (id {bigint} PRIMARY KEY, exchange_id VARCHAR(40) NOT "
            f"NULL UNIQUE, org_id VARCHAR(36) NOT NULL, workspace_id VARCHAR(36), nonce {blob} "
            f"NOT NULL, ciphertext {blob} NOT NULL, rule_ids JSON NOT NULL, created_at {ts} NOT "
            f"NULL, expires_at {ts} NOT NULL)"))
        conn.execute(text("CREATE INDEX ix_plain_expires ON contents_plain (expires_at)"))
        conn.execute(text("CREATE INDEX ix_plain_org ON contents_plain (org_id)"))


def settle(engine: Engine) -> None:
    """Flush the bulk load to disk first, so its checkpoint does not land in a measurement."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))     # what autovacuum does after a load
            conn.execute(text("CHECKPOINT"))
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


class WriterProbe:
    """A gateway stand-in during a purge: one small committed insert every 5 ms; how long the
    slowest waited tells whether the purge stalls writers."""

    def __init__(self, engine: Engine, org: str) -> None:
        self.engine, self.org = engine, org
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.perf_counter()
            try:
                with self.engine.begin() as conn:
                    conn.execute(feature_artifacts.insert().values(
                        exchange_id=f"probe-{uuid.uuid4().hex}", org_id=self.org,
                        feature="files", kind="file", created_at=NOW, expires_at=None))
            except OperationalError:        # SQLite: waited busy_timeout and gave up
                self.failures += 1
            self.latencies.append(time.perf_counter() - started)
            self._stop.wait(0.005)

    def __enter__(self) -> WriterProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def summary(self) -> str:
        worst = max(self.latencies, default=0.0) * 1000
        failed = f", {self.failures} gave up after busy_timeout" if self.failures else ""
        return f"{worst:.0f} ms{failed}"


def timed_delete(engine: Engine, table: str, org: str) -> tuple[float, str]:
    settle(engine)
    with WriterProbe(engine, org) as probe:
        started = time.perf_counter()
        with engine.begin() as conn:
            deleted = conn.execute(text(f"DELETE FROM {table} WHERE expires_at < :now"),
                                   {"now": NOW}).rowcount
        elapsed = time.perf_counter() - started
    assert deleted > 0
    return elapsed, probe.summary


def bench_purge(engine: Engine, rows: int, days: int, payload: int) -> dict[str, Any]:
    reset(engine)
    org = make_org(engine)
    out: dict[str, Any] = {"rows": rows}
    plain_table(engine)
    load_expired(engine, org, rows, days, "contents_plain", payload)
    out["plain_delete_s"], out["plain_stall"] = timed_delete(engine, "contents_plain", org)
    if engine.dialect.name == "postgresql":       # what it takes to actually reclaim the rows
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM contents_plain"))
        out["vacuum_s"] = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        load_expired(engine, org, rows, days, "contents", payload)
        out["partitioned_delete_s"], _stall = timed_delete(engine, "contents", org)
    load_expired(engine, org, rows, days, "contents", payload)
    purge(engine, NOW - timedelta(days=days + 2))   # warm-up: statements compiled, as in a sweeper
    settle(engine)
    with WriterProbe(engine, org) as probe:
        report = purge(engine, NOW)
    out["purge_stall"] = probe.summary
    assert report.deleted["content"] == rows or report.estimated, report.deleted
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM contents")).scalar() == 0
    out["purge_s"] = report.seconds
    out["dropped_partitions"] = len(report.dropped_partitions)
    out["ratio"] = out["plain_delete_s"] / out["purge_s"]
    return out


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = engine_for(url)
    migrate(engine)
    try:
        result: dict[str, Any] = {"backend": name}
        if args.only == "writer-cpu":
            result["writer_cpu"] = bench_writer_cpu(
                engine, args.writes, [int(c) for c in args.cpu_concurrency.split(",")],
                args.relay_ms / 1000, args.rounds)
            return result
        if args.only in (None, "writes"):
            result["writes"] = bench_writes(engine, args.writes, args.concurrency, args.rounds)
            w = result["writes"]
            print(f"[{name}] writes: sink {w['sink_per_s']:.0f}/s vs bare "
                  f"{w['bare_per_s']:.0f}/s = {w['ratio']:.0%} (medians of {args.rounds} "
                  f"alternating rounds; per round {w['rounds']}; record_retained p50 "
                  f"{w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms)", flush=True)
        if args.only == "writes":
            return result
        result["purge"] = bench_purge(engine, args.rows, args.days, args.payload)
        p = result["purge"]
        extra = (f"; plain DELETE on the partitioned table {p['partitioned_delete_s']:.2f}s; "
                 f"VACUUM after the plain DELETE {p['vacuum_s']:.2f}s (DELETE+VACUUM = "
                 f"{(p['plain_delete_s'] + p['vacuum_s']) / p['purge_s']:.1f}x purge time)"
                 if "partitioned_delete_s" in p else "")
        print(f"[{name}] purge {p['rows']} rows: {p['purge_s']:.2f}s "
              f"({p['rows'] / p['purge_s']:.0f} rows/s, {p['dropped_partitions']} partitions "
              f"dropped) vs plain DELETE {p['plain_delete_s']:.2f}s "
              f"({p['rows'] / p['plain_delete_s']:.0f} rows/s) = {p['ratio']:.1f}x{extra}",
              flush=True)
        print(f"[{name}] slowest concurrent writer commit: during purge "
              f"{p['purge_stall']}, during the plain DELETE {p['plain_stall']}",
              flush=True)
        return result
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired rows to purge")
    parser.add_argument("--days", type=int, default=10, help="expiry days the rows spread over")
    parser.add_argument("--payload", type=int, default=1024,
                        help="ciphertext bytes per purged row (multiple of 16)")
    parser.add_argument("--writes", type=int, default=20_000, help="exchanges to write")
    parser.add_argument("--only", choices=["writes", "purge", "writer-cpu"], default=None)
    parser.add_argument("--cpu-concurrency", default="16,1",
                        help="writer-cpu: in-flight exchanges, comma-separated (c=1 runs 1/8)")
    parser.add_argument("--relay-ms", type=float, default=8.0,
                        help="writer-cpu: how long each exchange relays before it is recorded")
    parser.add_argument("--rounds", type=int, default=3, help="alternating write rounds")
    parser.add_argument("--concurrency", type=int, default=256, help="in-flight writers")
    parser.add_argument("--pg-parent", default=None,
                        help="folder for the PostgreSQL cluster (default: the temp folder)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; writes={args.writes} "
          f"concurrency={args.concurrency} purge rows={args.rows} over {args.days} days",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="zdr-bench-") as tmp:
        if args.backend in ("sqlite", "both"):
            run_backend("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args)
        if args.backend in ("postgres", "both"):
            parent = Path(args.pg_parent) if args.pg_parent else None
            with running_postgres(durable=True, parent=parent) as server:
                run_backend("postgres", server.create_database("zdr_bench"), args)


if __name__ == "__main__":
    main()
