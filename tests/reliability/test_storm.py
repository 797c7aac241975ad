"""The storm (docs/DESIGN.md §6): a real deployment — `zdr serve` with two worker processes on
a SQLite home and the stand-in upstream, both separate processes — takes mixed traffic of a ZDR, a
standard, a HIPAA and an enterprise org through the `anthropic` SDK while the suite injects faults:
upstream 500/529, upstream timeouts (before and during a stream), connection resets and error
events mid-stream, client disconnects, the database locked by another connection for longer than
the store's retries, kill -9 of one worker, kill -9 of the whole gateway and a restart.

Database outage behaviour (what the store does, and what this test holds it to): writes queue in
the store's writer thread; a retaining org's request waits for its content to be committed, and
if the store cannot commit it, the request FAILS LOUDLY (503, or an SSE `error` event before
`message_stop`): no client ever sees a complete answer whose content was not stored.

After the storm: `zdr verify --canary …` (every canary of every request) is clean; every exchange
a client of a retaining org saw complete is stored exactly once; with the clock jumped past every
period, purge removes all that is unheld and nothing held, and verify agrees at that instant.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deployment import Deployment, Org
from sqlalchemy import func, select
from storm_figures import publish
from traffic import UPSTREAM_TIMEOUT_SECONDS, Tally, client_loop

from zdr.settings import load_settings
from zdr.store.content import read_content
from zdr.store.crypto import Keyring, load_master_key
from zdr.store.db import engine_for
from zdr.store.purge import purge
from zdr.store.tables import contents, exchanges

pytestmark = pytest.mark.slow

CLIENT_THREADS = 6
MAX_REQUESTS_PER_THREAD = 600
PAUSE = 0.02
DB_OUTAGE_SECONDS = 13.0          # > the store's busy timeout (10 s): queued writes wait it out
LONG_OUTAGE_SECONDS = 21.0        # > busy timeout for the batch + 10 s for its first job
JUMP = timedelta(days=401)         # past metadata (400 d), enterprise (90 d) and default periods
ORGS = [Org("storm-zdr", "zdr"), Org("storm-standard", "standard"),
        Org("storm-hipaa", "hipaa"), Org("storm-enterprise", "enterprise")]


def verify(deployment: Deployment, canary_file: Path | None, *extra: str
           ) -> tuple[int, dict[str, Any]]:
    canaries = ["--canary-file", str(canary_file)] if canary_file else []
    done = deployment.zdr("verify", *canaries, "--json", "--quiet", *extra, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def violations_by_check(report: dict[str, Any]) -> Counter[str]:
    return Counter(v["check"] for check in report["checks"] for v in check["violations"])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("storm") / "home"
    deployment = Deployment(home)
    deployment.env["ZDR_UPSTREAM_TIMEOUT_SECONDS"] = str(UPSTREAM_TIMEOUT_SECONDS)
    try:
        deployment.initialise([Org(o.name, o.kind) for o in ORGS])
        deployment.start_stub()
        deployment.start_gateway(workers=2)
        yield deployment
    finally:
        deployment.close()


def run_storm(deployment: Deployment, figures: dict[str, Any]) -> Tally:
    tally, stop = Tally(), threading.Event()
    orgs = list(deployment.orgs.values())
    threads = [threading.Thread(target=client_loop, daemon=True, args=(
        deployment.url, orgs, tally, stop, seed, MAX_REQUESTS_PER_THREAD, PAUSE))
        for seed in range(CLIENT_THREADS)]
    injected: Counter[str] = Counter()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        time.sleep(4)
        deployment.kill_worker()                               # kill -9 one worker
        injected["kill -9 worker"] += 1
        deadline = time.monotonic() + 20
        while len(deployment.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert len(deployment.worker_pids()) == 2, "the supervisor did not replace the worker"
        figures["worker replaced after (s)"] = round(20 - (deadline - time.monotonic()), 1)
        time.sleep(2)

        locked = threading.Event()
        outage = threading.Thread(target=deployment.lock_database,
                                  args=(DB_OUTAGE_SECONDS, locked), daemon=True)
        outage.start()
        assert locked.wait(30)
        outage_start = time.monotonic()
        injected["database locked (s)"] += int(DB_OUTAGE_SECONDS)
        outage.join(DB_OUTAGE_SECONDS + 30)
        figures["outage window"] = (outage_start, time.monotonic())
        time.sleep(3)

        deployment.kill_gateway()                              # kill -9 everything, restart
        injected["kill -9 gateway"] += 1
        down = time.monotonic()
        time.sleep(0.5)
        deployment.start_gateway(workers=2)
        figures["restart downtime (s)"] = round(time.monotonic() - down, 1)
        time.sleep(5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    figures["storm seconds"] = round(time.monotonic() - started, 1)
    figures["faults injected"] = {**dict(injected), **{
        name: count for name, count in sorted(tally.faults().items()) if name != "none"}}
    return tally


# Faults that end a stream after it started reaching the client.
STREAMS_ENDING_EARLY = frozenset({"stream_timeout", "reset_mid_stream", "error_mid_stream",
                                  "client_disconnect"})


def test_storm(deployment: Deployment, tmp_path: Path) -> None:
    figures: dict[str, Any] = {}
    tally = run_storm(deployment, figures)
    stats = deployment.stub_stats()
    deployment.stop_gateway()                                   # graceful: queues flushed
    results = tally.results
    retaining = {o.name for o in deployment.orgs.values() if o.retains}

    # 1. Faults never look like success; successes carry the stand-in's own output.
    for result in results:
        if result.fault not in ("none",):
            assert not result.ok, f"{result.fault} ended as a complete answer"
    successes = [r for r in results if r.ok]
    assert len(successes) > 100, "the storm did not get enough traffic through"

    # 2. Every completed exchange of a retaining org is stored exactly once.
    settings = load_settings(env={}, home=deployment.home)
    engine = engine_for(settings.database_url)
    try:
        with engine.connect() as conn:
            stored = Counter(conn.execute(select(contents.c.exchange_id)).scalars())
            zdr_ids = {o.org_id for o in deployment.orgs.values() if not o.retains}
            zdr_content = conn.execute(select(func.count()).select_from(contents).where(
                contents.c.org_id.in_(zdr_ids))).scalar_one()
        retained_ok = [r for r in successes if r.org in retaining]
        missing = [r.request_id for r in retained_ok if stored[r.request_id or ""] != 1]
        assert not missing, f"{len(missing)} completed retaining exchanges not stored once"
        assert all(count == 1 for count in stored.values())
        assert zdr_content == 0
        # A retaining org's stream that ended early keeps what was relayed of it, once.
        ended_early = sum(r.org in retaining and r.fault in STREAMS_ENDING_EARLY
                          for r in results)
        assert len(stored) <= stats["completed"] + ended_early, \
            "more stored than the stand-in answered"

        # 3. zdr verify with every canary: clean.
        canary_file = tmp_path / "canaries.txt"
        canaries = tally.canaries()
        canary_file.write_text("\n".join(canaries) + "\n", encoding="utf-8")
        clock = time.monotonic()
        code, report = verify(deployment, canary_file)
        figures["verify seconds"] = round(time.monotonic() - clock, 1)
        assert code == 0, violations_by_check(report)

        # 4. Clock jump: holds, purge at now + 401 days, nothing held purged, verify agrees.
        now = datetime.now(UTC)
        future = now + JUMP
        at = ["--at", future.strftime("%Y-%m-%dT%H:%M:%S")]
        standard = deployment.orgs["storm-standard"]
        enterprise = deployment.orgs["storm-enterprise"]
        held_exchange = next(r.request_id for r in retained_ok if r.org == enterprise.name)
        assert held_exchange is not None
        deployment.zdr("holds", "place", "--org", standard.name, "--reason", "litigation",
                       "--as", "legal@example.com")
        deployment.zdr("holds", "place", "--org", enterprise.name, "--exchange", held_exchange,
                       "--reason", "investigation", "--as", "legal@example.com")
        held_before = held_counts(engine, standard.org_id, held_exchange)
        code_before, before = verify(deployment, None, *at)     # store checks only
        assert code_before == 1 and violations_by_check(before)["expiry"] > 0
        purged = purge(engine, future)
        code_after, after = verify(deployment, None, *at)
        assert code_after == 0, violations_by_check(after)
        held_after = held_counts(engine, standard.org_id, held_exchange)
        assert held_after == held_before
        keyring = Keyring(engine, load_master_key(settings))
        kept = read_content(engine, keyring, held_exchange, future)
        canary_in = next(r.canaries[0] for r in results if r.request_id == held_exchange)
        assert kept is not None and canary_in.encode() in kept.content.request
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(exchanges)).scalar_one()
        assert left == held_before["exchanges"] + 1
    finally:
        engine.dispose()

    faults = tally.faults()
    begin, end = figures.pop("outage window")
    during = [r for r in results if begin + 0.5 < r.at < end - 0.5]
    figures["completed while the database was locked"] = {
        "retaining": sum(r.ok for r in during if r.org in retaining),
        "zdr": sum(r.ok for r in during if r.org not in retaining)}
    # A retaining answer is complete only once its content is committed: none while locked.
    assert figures["completed while the database was locked"]["retaining"] == 0
    figures.update({
        "requests sent": len(results),
        "requests by org": dict(Counter(r.org for r in results)),
        "client-side successes": len(successes),
        "retaining successes (stored exactly once)": len(retained_ok),
        "loud failures (store unavailable)": sum(r.store_failed for r in results),
        "refused by policy (expected 400)": faults.get("policy_refusal", 0),
        "other client errors": dict(Counter(r.error for r in results
                                            if not r.ok and r.fault == "none")),
        "stand-in completed responses": stats["completed"],
        "stand-in requests": stats["requests"],
        "content rows stored": len(stored),
        "ZDR content rows": zdr_content,
        "canaries checked": len(canaries),
        "files scanned / bytes": f"{report['files_scanned']} / {report['bytes_scanned']}",
        "violations found (after storm)": report["violation_count"],
        "violations at now+401d before purge": dict(violations_by_check(before)),
        "records purged at now+401d": purged.total,
        "held records before / after purge": f"{held_before} / {held_after}",
        "violations at now+401d after purge": after["violation_count"],
        "gateway starts": deployment.gateway_starts,
    })
    publish(figures)


def held_counts(engine: Any, org_id: str, exchange_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "exchanges": conn.execute(select(func.count()).select_from(exchanges).where(
                exchanges.c.org_id == org_id)).scalar_one(),
            "contents": conn.execute(select(func.count()).select_from(contents).where(
                (contents.c.org_id == org_id) | (contents.c.exchange_id == exchange_id)
            )).scalar_one(),
        }


def test_a_long_database_outage_fails_retaining_requests_loudly(deployment: Deployment) -> None:
    """Past the store's retries a retaining org's request fails (503 or an SSE error event);
    one that the store could still write after the outage completes; ZDR traffic goes on."""
    import anthropic
    from traffic import one_request

    deployment.start_gateway(workers=1)
    standard, quiet = deployment.orgs["storm-standard"], deployment.orgs["storm-zdr"]
    clients = {org.name: anthropic.Anthropic(api_key=org.key, base_url=deployment.url,
                                             max_retries=0, timeout=60.0)
               for org in (standard, quiet)}
    results: dict[str, Any] = {}

    def send(name: str, org: Org, stream: bool) -> None:
        results[name] = one_request(clients[org.name], org, "none", stream)
        results[name].at = time.monotonic()

    locked = threading.Event()
    outage = threading.Thread(target=deployment.lock_database,
                              args=(LONG_OUTAGE_SECONDS, locked), daemon=True)
    outage.start()
    assert locked.wait(30)
    start = time.monotonic()
    first = threading.Thread(target=send, args=("first", standard, True))
    first.start()
    time.sleep(1)
    send("zdr", quiet, False)
    later = threading.Thread(target=send, args=("later", standard, False))
    later.start()
    for thread in (first, later, outage):
        thread.join(90)
    send("after", standard, True)                                 # the store is back
    for client in clients.values():
        client.close()
    deployment.stop_gateway()

    assert results["zdr"].ok and results["zdr"].at - start < 5     # not held up by the store
    assert not results["first"].ok and results["first"].store_failed
    # A later request either waited the outage out and was stored, or failed loudly too.
    assert results["later"].ok or results["later"].store_failed
    if results["later"].ok:
        assert results["later"].at - start >= LONG_OUTAGE_SECONDS - 1
    assert results["after"].ok
    engine = engine_for(load_settings(env={}, home=deployment.home).database_url)
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(select(contents.c.exchange_id)).scalars())
    finally:
        engine.dispose()
    assert {r.request_id for r in results.values() if r.ok and r.org == standard.name} <= stored
    assert results["after"].request_id in stored
