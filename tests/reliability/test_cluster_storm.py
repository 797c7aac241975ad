"""The storm on the cluster (docs/DEPLOYMENT.md): nginx in front of two `zdr serve` instances with
two workers each, one PostgreSQL server, the stand-in upstream — every part its own process
(`zdr.cluster.local.LocalCluster`). The storm's mixed, faulted traffic (traffic.py) of a ZDR, a
standard, a HIPAA, an enterprise org and an org whose ZDR is revoked mid-storm goes through nginx
while the suite, on a timeline: places a legal hold, kills -9 one whole instance (nginx fails
over) and starts it again, restarts PostgreSQL, starts a third instance late (the schema is
migrated already: it must change nothing) and revokes the ZDR arrangement through an instance's
admin API. Every worker sweeps every second, so purges contend all along.

Then: `zdr verify --canary-file` over the database's files and every process's logs and temp
folders finds no canary; every retaining answer a client saw complete is stored exactly once;
nothing a ZDR decision covered is stored; with the clock jumped past every period purge keeps
every held record; at most one purge ran at a time. Bounded to ~90 s; set
CLUSTER_STORM_SOAK_SECONDS for a longer storm that repeats the faults.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from deployment import Org, populate
from sqlalchemy import func, select, text
from storm_figures import publish
from traffic import UPSTREAM_TIMEOUT_SECONDS, Result, Tally, client_loop

from zdr.cluster.local import LocalCluster
from zdr.settings import load_settings
from zdr.store.changes import conninfo
from zdr.store.db import engine_for
from zdr.store.purge import PURGE_LOCK_KEY, purge
from zdr.store.tables import contents, exchanges
from zdr.testing.probes import admin_post, retention_of

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENT_THREADS = 4
PAUSE = 0.05
SOAK_SECONDS = float(os.environ.get("CLUSTER_STORM_SOAK_SECONDS", "0"))
DB_DOWN_SECONDS = 2.0
JUMP = timedelta(days=401)
REVOKED = "cluster-revoked"
ORGS = [Org("cluster-zdr", "zdr"), Org("cluster-standard", "standard"),
        Org("cluster-hipaa", "hipaa"), Org("cluster-enterprise", "enterprise"),
        Org(REVOKED, "zdr")]


class LockWatch:
    """Samples, every 10 ms, which instances hold purge's advisory lock (pg_locks), over a
    connection of its own that survives the database's restart."""

    QUERY = ("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
             "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
             "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s")

    def __init__(self, database_url: str) -> None:
        self._conninfo = conninfo(database_url)
        self.samples = 0
        self.most_holders = 0
        self.holders: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    while not self._stop.is_set():
                        names = [row[0] for row in conn.execute(self.QUERY, (PURGE_LOCK_KEY,))]
                        self.samples += 1
                        self.most_holders = max(self.most_holders, len(names))
                        self.holders.update(names)
                        time.sleep(0.01)
            except psycopg.Error:
                time.sleep(0.1)         # the database is restarting

    def __enter__(self) -> LockWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def schema_state(database_url: str) -> tuple[Any, ...]:
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            # A migration run again, even one with nothing to do, rewrites the version row.
            return tuple(conn.execute(text(
                "SELECT version_num, xmin::text FROM alembic_version")).one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def cluster() -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    local = LocalCluster(instances_at_start=2, workers=2, env=env, settings={
        "ZDR_UPSTREAM_TIMEOUT_SECONDS": str(UPSTREAM_TIMEOUT_SECONDS),
        "ZDR_PURGE_INTERVAL_SECONDS": "1",        # every worker sweeps: purges contend
        "ZDR_KEY_CACHE_TTL_SECONDS": "30",         # changes must travel by notice
    })
    try:
        local.start()
        yield local
    finally:
        local.stop()


def faults(cluster: LocalCluster, orgs: dict[str, Org], figures: dict[str, Any],
           injected: Counter[str]) -> None:
    """The timeline of faults on the deployment, while the clients send."""
    from zdr.control.plane import build_control_plane
    from zdr.control.roles import system_actor

    time.sleep(1.5)
    plane = build_control_plane(load_settings(env={}, home=cluster.home))
    plane.holds.place(plane.accounts.actor_for_email("legal@example.com"), "cluster-standard",
                      "litigation")                                   # a hold while traffic flows
    reviewer_token = plane.accounts.create_token(system_actor(), "reviewer@example.com").secret
    plane.ctx.engine.dispose()
    injected["legal hold placed"] += 1
    schema = schema_state(cluster.database_url)
    cycles = 0
    deadline = time.monotonic() + SOAK_SECONDS
    while True:
        time.sleep(1.5)
        down = time.monotonic()
        cluster.restart_postgres(DB_DOWN_SECONDS)                   # the database goes away
        injected["PostgreSQL restarted"] += 1
        figures.setdefault("database outage windows", []).append((down, time.monotonic()))
        time.sleep(1.5)
        cluster.kill_instance(1)                                    # kill -9 a whole instance
        injected["kill -9 instance"] += 1
        started = time.monotonic()
        # It comes back while (the first time) a third instance starts late: two instances
        # find the schema migrated, at once, and must leave it as it is.
        starting = [threading.Thread(target=cluster.restart_instance, args=(1,))]
        if cycles == 0:
            starting.append(threading.Thread(target=cluster.add_instance))
            injected["instance started late"] += 1
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join(120)
        figures.setdefault("instance back after kill -9 (s)", round(time.monotonic() - started,
                                                                   1))
        cycles += 1
        if time.monotonic() > deadline:
            break
    figures["schema unchanged by instances started later"] = \
        schema_state(cluster.database_url) == schema
    late = cluster.instances[2]
    assert late.running, "the late instance did not start"
    revoked = orgs[REVOKED]
    assert admin_post(cluster.instances[1].url, reviewer_token,
                      f"/orgs/{REVOKED}/zdr/revoke", {}) == 200
    sent = time.monotonic()                                         # revoked through instance 2
    injected["ZDR revoked"] += 1
    while retention_of(late.url, revoked.key) != "30d":             # seen on instance 3
        assert time.monotonic() - sent < 10, "the revocation did not reach the late instance"
    figures["revocation seen on another instance after (ms)"] = round(
        (time.monotonic() - sent) * 1000)
    figures["revoked at"] = sent
    figures["fault cycles"] = cycles
    time.sleep(2)


def test_cluster_storm(cluster: LocalCluster, tmp_path: Path) -> None:
    orgs = {org.name: Org(org.name, org.kind) for org in ORGS}
    populate(cluster.home, list(orgs.values()))
    figures: dict[str, Any] = {}
    injected: Counter[str] = Counter()
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=client_loop, daemon=True, args=(
        cluster.url, list(orgs.values()), tally, stop, seed, 100_000, PAUSE))
        for seed in range(CLIENT_THREADS)]
    started = time.monotonic()
    with LockWatch(cluster.database_url) as locks:
        for thread in threads:
            thread.start()
        try:
            faults(cluster, orgs, figures, injected)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
    figures["storm seconds"] = round(time.monotonic() - started, 1)
    stub_stats = json.loads(urllib.request.urlopen(
        f"{cluster.upstream}/stub/stats", timeout=5).read())
    for instance in cluster.instances:      # graceful: queued writes are flushed
        cluster.stop_instance(instance.number)

    results = tally.results
    revoked_at = figures.pop("revoked at")
    outages = figures.pop("database outage windows")

    def retains(result: Result) -> bool:
        if result.org == REVOKED:
            return result.retention == "30d"
        return orgs[result.org].retains

    # 1. Faults never look like success (a browser request of the revoked org is allowed once
    # ZDR is revoked); enough got through.
    unexpected = [(r.org, r.fault, r.retention) for r in results if r.ok and r.fault != "none"
                  and not (r.fault == "policy_refusal" and retains(r))]
    assert not unexpected
    successes = [r for r in results if r.ok]
    assert len(successes) > 100, "the storm did not get enough traffic through"
    # A retaining answer is complete only once its content is committed: none while the
    # database was down.
    during_outage = [r for r in successes if retains(r)
                     and any(begin + 0.3 < r.at < end - 0.3 for begin, end in outages)]
    assert not during_outage

    # 2. Every retaining answer seen complete is stored exactly once; nothing of ZDR's.
    settings = load_settings(env={}, home=cluster.home)
    engine = engine_for(settings.database_url)
    try:
        with engine.connect() as conn:
            stored = Counter(conn.execute(select(contents.c.exchange_id)).scalars())
            zdr_org = orgs["cluster-zdr"].org_id
            zdr_rows = conn.execute(select(func.count()).select_from(contents).where(
                contents.c.org_id == zdr_org)).scalar_one()
        retained_ok = [r for r in successes if retains(r)]
        lost = [(r.request_id, r.org, r.fault, r.stream,
                 [round(r.at - begin, 2) for begin, _ in outages])
                for r in retained_ok if stored[r.request_id or ""] != 1]
        assert not lost, f"completed retaining exchanges not stored exactly once: {lost}"
        assert all(count == 1 for count in stored.values())
        assert zdr_rows == 0
        under_zdr = [r.request_id for r in results if r.retention == "zero"]
        assert not [i for i in under_zdr if stored[i or ""]], "content of a ZDR decision stored"
        revoked = [r for r in results if r.org == REVOKED]
        assert {r.retention for r in revoked if r.ok and r.at < revoked_at} <= {"zero"}
        assert any(r.retention == "30d" and r.ok for r in revoked)

        # 3. zdr verify, every canary, over the database's files and every log and temp folder.
        canary_file = tmp_path / "canaries.txt"
        canaries = tally.canaries()
        canary_file.write_text("\n".join(canaries) + "\n", encoding="utf-8")
        assert cluster.postgres is not None
        scan = [arg for folder in cluster.log_folders for arg in ("--scan-path", str(folder))]
        clock = time.monotonic()
        report = verify(cluster, "--canary-file", str(canary_file), "--pg-data-dir",
                        str(cluster.postgres.root), *scan)
        figures["verify seconds"] = round(time.monotonic() - clock, 1)
        assert report["violation_count"] == 0, report

        # 4. The clock jumps past every period: purge keeps every held record.
        standard = orgs["cluster-standard"].org_id
        held_before = held_rows(engine, standard)
        assert held_before["contents"] > 0
        purged = purge(engine, datetime.now(UTC) + JUMP)
        held_after = held_rows(engine, standard)
        assert held_after == held_before, "a held record was purged"
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(exchanges)).scalar_one()
        assert left == held_before["exchanges"]
    finally:
        engine.dispose()

    # 5. Exactly one sweeper at a time, and sweepers of several instances took their turn.
    assert locks.most_holders <= 1
    assert locks.samples > 100 and sum(locks.holders.values()) > 0
    assert figures.pop("schema unchanged by instances started later")

    served_by: Counter[str] = Counter()         # the instance that answered, per nginx
    failovers = 0
    assert cluster.nginx is not None
    for line in cluster.nginx.access_log.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields[4] == "messages":
            tried = [field.rstrip(",") for field in fields[8:] if field.startswith("127.")]
            failovers += len(tried) > 1
            served_by[tried[-1] if tried else "none"] += 1
    faults_seen = tally.faults()
    figures.update({
        "faults injected": {**dict(injected), **{
            name: count for name, count in sorted(faults_seen.items()) if name != "none"}},
        "requests sent": len(results),
        "requests by org": dict(Counter(r.org for r in results)),
        "requests by instance (nginx)": dict(served_by),
        "requests nginx failed over to another instance": failovers,
        "client-side successes": len(successes),
        "retaining successes (stored exactly once)": len(retained_ok),
        "retained exchanges lost": len(lost),
        "loud failures (store unavailable)": sum(r.store_failed for r in results),
        "other client errors": dict(Counter(r.error for r in results
                                            if not r.ok and r.fault == "none")),
        "stand-in completed responses": stub_stats["completed"],
        "content rows stored": len(stored),
        "ZDR content rows": zdr_rows,
        "canaries checked": len(canaries),
        "canaries found": report["violation_count"],
        "files scanned / bytes": f"{report['files_scanned']} / {report['bytes_scanned']}",
        "records purged at now+401d": purged.total,
        "held records before / after purge": f"{held_before} / {held_after}",
        "held records purged": held_before["contents"] - held_after["contents"],
        "purge lock samples / most holders at once": f"{locks.samples} / {locks.most_holders}",
        "purge lock seen held by": dict(locks.holders),
    })
    publish(figures, "cluster-storm-figures.json")


def verify(cluster: LocalCluster, *args: str) -> dict[str, Any]:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    done = subprocess.run(
        [sys.executable, "-c", "from zdr.cli import main; main()", "verify", "--home",
         str(cluster.home), "--json", "--quiet", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr
    with contextlib.suppress(json.JSONDecodeError):
        return dict(json.loads(done.stdout))
    raise AssertionError(done.stdout[-2000:])


def held_rows(engine: Any, org_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "exchanges": conn.execute(select(func.count()).select_from(exchanges).where(
                exchanges.c.org_id == org_id)).scalar_one(),
            "contents": conn.execute(select(func.count()).select_from(contents).where(
                contents.c.org_id == org_id)).scalar_one(),
        }
