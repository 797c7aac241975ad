"""Control-plane costs: hash-chained audit appends, and how fast a change reaches the gateway.

    .venv/bin/python bench/control.py [--appends 400] [--threads 4]

Prints, on one SQLite file in a temp folder (the store's engine: WAL, synchronous=FULL):
- baseline: plain single-row inserts into a table shaped like the audit log, one transaction each;
- chained appends (serialized, RFC 8785 JSON, HMAC-SHA256 links), 1 and N threads; ratio to
  baseline;
- a whole control action (workspace create + its audit entry) per second;
- seconds until a ZDR approval is visible through the gateway's PrincipalCache (TTL default) and
  with the in-process `on_change` invalidation.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from zdr.catalog import default_catalog
from zdr.control import audit
from zdr.control.context import ControlContext
from zdr.control.plane import ControlPlane
from zdr.control.roles import system_actor
from zdr.gateway.auth import PrincipalCache
from zdr.settings import Settings
from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate
from zdr.store.directory import SqlDirectory

CHAIN_KEY = audit.ChainKey.from_master_key(bytes(32))
baseline_meta = MetaData()
plain_log = Table("plain_log", baseline_meta, Column("seq", Integer, primary_key=True),
                  Column("actor", String(200)), Column("action", String(60)), Column("body", Text))


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def baseline(engine, n: int) -> float:  # type: ignore[no-untyped-def]
    baseline_meta.create_all(engine)
    started = time.perf_counter()
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(plain_log.insert().values(actor="bench", action="bench", body=str(i)))
    return rate(n, time.perf_counter() - started)


def chained(engine, n: int, threads: int) -> float:  # type: ignore[no-untyped-def]
    each = n // threads

    def run(t: int) -> None:
        for i in range(each):
            with audit.serialized(engine) as conn:
                audit.append(conn, CHAIN_KEY, actor=f"bench-{t}", role="provider_admin",
                             org_id=None, action="bench.append", target=str(i), after={"i": i})

    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return rate(each * threads, time.perf_counter() - started)


async def propagation(plane: ControlPlane, engine, ttl: float, invalidate: bool) -> float:  # type: ignore[no-untyped-def]
    op = system_actor()
    name = f"prop-{ttl}-{invalidate}"
    plane.orgs.create(op, name, "api")
    key = plane.keys.create(op, name).secret
    cache = PrincipalCache(SqlDirectory(engine), ttl=ttl)
    plane.ctx.on_change = (lambda _org: cache.invalidate()) if invalidate else None
    await cache.principal(key)
    plane.arrangements.request_zdr(op, name)
    reviewer = plane.accounts.actor_for_email("reviewer@bench.example")
    plane.arrangements.approve_zdr(reviewer, name)
    started = time.monotonic()
    while (await cache.principal(key)).arrangements.org.zdr_status != "approved":  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    plane.ctx.on_change = None
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="zdr-bench-control-"))
    engine = engine_for(f"sqlite:///{folder / 'zdr.sqlite3'}")
    migrate(engine)
    base = baseline(engine, args.appends)
    one = chained(engine, args.appends, 1)
    many = chained(engine, args.appends, args.threads)
    with engine.connect() as conn:
        assert audit.verify_chain(conn, CHAIN_KEY).ok
    plane = ControlPlane(ControlContext(engine=engine, catalog=default_catalog(),
                                        keyring=Keyring(engine, bytes(32)),
                                        chain_key=CHAIN_KEY))
    op = system_actor()
    plane.orgs.create(op, "bench", "api")
    plane.accounts.create_user(op, "reviewer@bench.example", provider_roles=["reviewer"])
    started = time.perf_counter()
    actions = args.appends // 4
    for i in range(actions):
        plane.workspaces.create(op, "bench", f"ws-{i}")
    action_rate = rate(actions, time.perf_counter() - started)
    ttl = Settings().key_cache_ttl_seconds
    by_ttl = asyncio.run(propagation(plane, engine, ttl, invalidate=False))
    by_hook = asyncio.run(propagation(plane, engine, ttl, invalidate=True))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z  SQLite, synchronous=FULL, {args.appends} appends")
    print(f"baseline plain inserts        {base:8.0f}/s   1.00x")
    print(f"chained appends, 1 thread     {one:8.0f}/s   {one / base:.2f}x")
    print(f"chained appends, {args.threads} threads    {many:8.0f}/s   {many / base:.2f}x")
    print(f"control actions (create+audit){action_rate:8.0f}/s   {action_rate / base:.2f}x")
    print(f"ZDR approval -> gateway cache: {by_ttl:.2f} s with TTL {ttl} s; "
          f"{by_hook * 1000:.1f} ms with on_change invalidation")


if __name__ == "__main__":
    main()
