"""Store benchmark: the write path against bare inserts, purge against a plain DELETE.

    .venv/bin/python bench/store.py              # 20k writes, 1M purge rows, both backends
    .venv/bin/python bench/store.py --rows 100000 --writes 5000 --backend sqlite

1. Write throughput: `--writes` exchanges with content (≈2 KB request, ≈1 KB response) through
   `SqlExchangeSink.record_retained` from `--concurrency` coroutines (each call returns once its
   batch committed: the durability the gateway waits for), against a baseline of bare inserts of
   the same rows (exchange + already-encrypted content rows, built by the same code) in
   transactions of `--concurrency` rows, on the same engine, in the same run. Target ≥ 70 %.
2. Purge throughput: `--rows` expired content rows (spread over `--days` expiry days) removed by
   `zdr.store.purge.purge`, against a plain `DELETE FROM … WHERE expires_at < now` of the same
   rows in a table without partitions (and, on PostgreSQL, also on the partitioned table).
   Target on PostgreSQL ≥ 10x.

The PostgreSQL server is a throwaway cluster started from the installed binaries with fsync ON
(durable commits, like production); SQLite runs in WAL mode with synchronous=FULL.
"""

from __future__ import annotations

import argparse
import asyncio
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
from zdr.ports import ExchangeMetadata, RetainedContent
from zdr.store import records
from zdr.store.content import pack
from zdr.store.crypto import Keyring, record_aad
from zdr.store.db import engine_for, migrate
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.partitions import PartitionManager
from zdr.store.purge import purge
from zdr.store.tables import contents, exchanges, feature_artifacts, metadata, organizations
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
    rows = []
    for meta, content in work:
        sealed = keyring.encrypt(meta.org_id, pack(content),
                                 record_aad(meta.exchange_id, "content"))
        rows.append((records.exchange_row(meta), records.content_row(meta, sealed, NOW)))
    PartitionManager(engine).ensure("contents", (c["expires_at"] for _e, c in rows))
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        with engine.begin() as conn:
            conn.execute(exchanges.insert(), [e for e, _c in chunk])
            conn.execute(contents.insert(), [c for _e, c in chunk])
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
    parser.add_argument("--only", choices=["writes", "purge"], default=None)
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
