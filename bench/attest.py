"""Evidence costs: a signed statement over a million metadata records, checking statements and
proofs offline, and what the keyed audit chain costs a control-plane action.

    .venv/bin/python bench/attest.py                      # 1,000,000 records, both backends
    .venv/bin/python bench/attest.py --records 100000 --backend sqlite

For each backend (SQLite file in WAL mode; a throwaway PostgreSQL server from
`zdr.testing.postgres`):
1. `--records` metadata rows of one org (the writer's own row form, two decisions: ZDR and
   standard, a few surfaces), bulk-loaded;
2. `zdr attest create` for that org in a child process: wall time and the child's peak RSS
   (targets: ≤ 60 s, ≤ 512 MB) — the statement streams the records (Merkle root in O(log n)
   memory) and runs `zdr verify`'s checks for the org;
3. `zdr attest prove` for a record in the middle (a second streaming pass), same measures;
4. verifying the statement and the proof offline, mean of `--verifies` runs (target ≤ 10 ms);
5. (SQLite) a control-plane action (workspace create + its audit entry, synchronous=FULL) with
   the keyed chain and signed checkpoints vs the same action with the former plain SHA-256
   links and no checkpoints, alternating rounds of `--actions`, median ratio (target ≤ 1.10).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MASTER = bytes(range(32))
START = datetime(2026, 10, 1, tzinfo=UTC)


def settings_for(home: Path, db_url: str) -> Any:
    from zdr.settings import load_settings

    return load_settings(env={"ZDR_MASTER_KEY": base64.b64encode(MASTER).decode(),
                              "ZDR_DB_URL": db_url}, home=home)


def populate(settings: Any, records: int) -> str:
    """An org with `records` metadata rows; its name."""
    from zdr.catalog import default_catalog
    from zdr.control.bootstrap import init_home
    from zdr.control.plane import build_control_plane
    from zdr.control.roles import system_actor
    from zdr.policy.decide import decide
    from zdr.policy.facts import Arrangements, OrgState, RequestFacts
    from zdr.ports import ExchangeMetadata
    from zdr.store import records as rows
    from zdr.store.db import datetime_binder, engine_for

    init_home(settings, "admin@bench.example")
    plane = build_control_plane(settings)
    org = plane.orgs.create(system_actor(), "bench-org", "api")
    plane.ctx.engine.dispose()
    catalog = default_catalog()
    decisions = [
        decide(RequestFacts(surface=surface, model="claude-sonnet-4-5"),
               Arrangements(OrgState(plan="api", org_id=org.id, zdr_status=status,
                                     zdr_effective_at=START - timedelta(days=1))),
               catalog, START)
        for surface in ("messages", "claude_code_api", "count_tokens")
        for status in ("approved", "none")]
    engine = engine_for(settings.database_url)
    stamp = datetime_binder(engine.dialect.name)
    columns = rows.EXCHANGE_COLUMNS
    placeholders = ", ".join(["?" if engine.dialect.name == "sqlite" else "%s"] * len(columns))
    sql = f"INSERT INTO exchanges ({', '.join(columns)}) VALUES ({placeholders})"
    chunk: list[tuple[Any, ...]] = []
    with engine.connect() as conn:
        for i in range(records):
            meta = ExchangeMetadata(
                exchange_id=f"req_{uuid.uuid4().hex}", org_id=org.id, workspace_id=None,
                key_id="key-1", started_at=START + timedelta(milliseconds=37 * i),
                decision=decisions[i % len(decisions)], status_code=200, outcome="ok",
                input_tokens=500 + i % 97, output_tokens=250, duration_ms=900, ttfb_ms=300)
            chunk.append(rows.exchange_values(meta, stamp))
            if len(chunk) == 20_000 or i == records - 1:
                with conn.begin():
                    conn.exec_driver_sql(sql, chunk)
                chunk.clear()
    engine.dispose()
    return "bench-org"


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one `zdr` command in a
    child process. On a shared machine the CPU time is the steadier figure."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:     # the child: run the CLI in a fresh interpreter
        os.execve(sys.executable, [sys.executable, "-c", "from zdr.cli import main; main()",
                                   *args], env)
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"zdr {' '.join(args[:2])} failed")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def offline_checks(statement: Path, proof: Path, pem: str, runs: int) -> tuple[float, float]:
    from zdr.proof.verify import verify_file

    data_s, data_p = statement.read_bytes(), proof.read_bytes()
    timings: dict[str, float] = {}
    for name, data in (("statement", data_s), ("proof", data_p)):
        verify_file(data, [pem])
        started = time.perf_counter()
        for _ in range(runs):
            verify_file(data, [pem])
        timings[name] = (time.perf_counter() - started) / runs * 1000
    return timings["statement"], timings["proof"]


def keyed_vs_plain(settings: Any, actions: int, rounds: int) -> tuple[float, float, float]:
    """Median seconds per action: keyed+checkpoints, plain links; their ratio."""
    from zdr.control import audit
    from zdr.control.plane import build_control_plane
    from zdr.control.roles import system_actor

    plane = build_control_plane(settings)
    op = system_actor()
    keyed_link, signer = audit.entry_link, plane.ctx.signer
    results: dict[str, list[float]] = {"keyed": [], "plain": []}
    for r in range(rounds):
        for mode in ("keyed", "plain") if r % 2 == 0 else ("plain", "keyed"):
            if mode == "plain":       # the chain as it was: sha256 links, nothing signed
                audit.entry_link = lambda _key, fields: audit.legacy_hash(fields)  # type: ignore[assignment]
                plane.ctx.signer = None
            started = time.perf_counter()
            for i in range(actions):
                plane.workspaces.create(op, "bench-org", f"{mode}-{r}-{i}")
            results[mode].append((time.perf_counter() - started) / actions)
            audit.entry_link, plane.ctx.signer = keyed_link, signer  # type: ignore[assignment]
    plane.ctx.engine.dispose()
    keyed, plain = statistics.median(results["keyed"]), statistics.median(results["plain"])
    return keyed, plain, keyed / plain


def run_backend(backend: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    server = None
    if backend == "sqlite":
        db_url = f"sqlite:///{folder / 'bench.sqlite3'}"
    else:
        from zdr.testing.postgres import PostgresServer

        server = PostgresServer.start()
        db_url = server.create_database("zdr_bench_attest")
    home = folder / f"home-{backend}"
    settings = settings_for(home, db_url)
    try:
        started = time.perf_counter()
        org = populate(settings, args.records)
        load_seconds = time.perf_counter() - started
        env = {**os.environ, "ZDR_HOME": str(home), "ZDR_DB_URL": db_url,
               "ZDR_MASTER_KEY": base64.b64encode(MASTER).decode()}
        statement, proof = folder / f"{backend}-statement.json", folder / f"{backend}-proof.json"
        until = (START + timedelta(milliseconds=37 * args.records + 1)).isoformat()
        issue = measured(["attest", "create", "--org", org, "--since", START.isoformat(),
                          "--until", until, "--out", str(statement)], env)
        doc = json.loads(statement.read_text())
        leaves = doc["payload"]["metadata_tree"]["leaves"]
        middle = _middle_request(settings, args.records)
        prove = measured(["attest", "prove", "--request-id", middle, "--attestation",
                          str(statement), "--out", str(proof)], env)
        verify_s, verify_p = offline_checks(statement, proof, doc["public_key"], args.verifies)
        result = {"backend": backend, "records": leaves, "load_s": load_seconds,
                  "issue_s": issue[0], "issue_mb": issue[1], "issue_cpu": issue[2],
                  "prove_s": prove[0], "prove_mb": prove[1], "prove_cpu": prove[2],
                  "verify_statement_ms": verify_s,
                  "verify_proof_ms": verify_p}
        if backend == "sqlite" and args.actions:
            keyed, plain, ratio = keyed_vs_plain(settings, args.actions, args.rounds)
            result.update(action_keyed_ms=keyed * 1000, action_plain_ms=plain * 1000,
                          action_ratio=ratio)
        return result
    finally:
        if server is not None:
            server.stop()
            server.remove()


def _middle_request(settings: Any, records: int) -> str:
    from sqlalchemy import select

    from zdr.store.db import engine_for
    from zdr.store.tables import exchanges

    engine = engine_for(settings.database_url)
    with engine.connect() as conn:
        at = START + timedelta(milliseconds=37 * (records // 2))
        found = conn.execute(select(exchanges.c.id).where(exchanges.c.started_at >= at)
                             .order_by(exchanges.c.started_at).limit(1)).scalar_one()
    engine.dispose()
    return str(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--verifies", type=int, default=200)
    parser.add_argument("--actions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    folder = Path(tempfile.mkdtemp(prefix="zdr-bench-attest-"))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M}Z  load {os.getloadavg()[0]:.1f}, "
          f"{args.records:,} metadata records of one org")
    sys.stdout.flush()
    for backend in backends:
        r = run_backend(backend, args, folder)
        print(f"[{backend}] loaded {r['records']:,} records in {r['load_s']:.0f} s")
        print(f"  attest create   {r['issue_s']:6.1f} s wall, {r['issue_cpu']:6.1f} s CPU, "
              f"peak RSS {r['issue_mb']:5.0f} MB   (targets 60 s, 512 MB)")
        print(f"  attest prove    {r['prove_s']:6.1f} s wall, {r['prove_cpu']:6.1f} s CPU, "
              f"peak RSS {r['prove_mb']:5.0f} MB")
        print(f"  verify statement {r['verify_statement_ms']:5.2f} ms   verify proof "
              f"{r['verify_proof_ms']:5.2f} ms   (target 10 ms each)")
        if "action_ratio" in r:
            print(f"  control action: keyed chain + checkpoints {r['action_keyed_ms']:.2f} ms, "
                  f"plain SHA-256 links {r['action_plain_ms']:.2f} ms -> "
                  f"{r['action_ratio']:.3f}x   (target 1.10x)")


if __name__ == "__main__":
    main()
