"""Console page times: each page's server time, next to a static file from the same app.

    .venv/bin/python bench/console.py [--requests 200]

Builds a throwaway home (SQLite store, two orgs, workspaces, a ZDR request, 50 stored exchanges),
signs in as the people who use each page and loads it N times through Starlette's TestClient
(in-process, no sockets). Prints p50/p99 of the wall time per request and of the server's own
`Server-Timing: total`, and the ratio to the baseline: the stylesheet served by the same app
(middleware and routing only, no session, no database, no template).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from zdr.console import build_console_app
from zdr.console.ratelimit import Limit, LoginRateLimiter
from zdr.control.plane import build_control_plane
from zdr.control.roles import Actor, system_actor
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.ports import ExchangeMetadata
from zdr.settings import load_settings
from zdr.store.crypto import Keyring, load_master_key
from zdr.store.db import engine_for, migrate
from zdr.store.exchanges import SqlExchangeSink

PASSWORD = "bench password 123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def build(home: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, home=home,
                             master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
                             session_secret=secrets.token_hex(32))
    engine = engine_for(settings.database_url)
    migrate(engine)
    plane = build_control_plane(settings, engine)
    op = system_actor()
    reviewer = Actor("bench-reviewer", "r@bench", frozenset({"reviewer"}))
    for name in ("Acme", "Globex", "Initech"):
        plane.orgs.create(op, name, "api")
        plane.workspaces.create(op, name, "default")
        plane.workspaces.create(op, name, "research", retention_override_days=30)
    plane.arrangements.request_zdr(op, "Acme", "bench")
    plane.arrangements.approve_zdr(reviewer, "Acme")
    plane.arrangements.request_zdr(op, "Globex", "bench")
    plane.accounts.create_user(op, "admin@acme.bench", PASSWORD, org_roles={"Acme": ["org_admin"]})
    for role in ("reviewer", "legal", "trust_safety", "provider_admin"):
        plane.accounts.create_user(op, f"{role}@provider.bench", PASSWORD, provider_roles=[role])
    org = plane.orgs.show(op, "Acme")
    sink = SqlExchangeSink(engine, Keyring(engine, load_master_key(settings)))
    now = datetime.now(UTC)
    state = OrgState(plan="api", zdr_status="approved", zdr_effective_at=org.zdr_effective_at,
                     org_id=org.id)
    decision = decide(RequestFacts(surface="messages", model="claude-sonnet-5"),
                      Arrangements(org=state), plane.ctx.catalog, now)

    async def write() -> None:
        sink.start()
        for i in range(50):
            await sink.record_metadata(ExchangeMetadata(
                f"ex_bench_{i}", org.id, None, None, now, decision, 200, "ok", False, 10, 20, 5))
        await sink.flush()

    asyncio.run(write())
    sink.close()
    limiter = LoginRateLimiter(engine, Limit(10_000, 60), Limit(10_000, 60), Limit(10_000, 60))
    app = Starlette(routes=[Mount("/console", build_console_app(plane, settings,
                                                                limiter=limiter))])
    return app, org.id


def sign_in(client: TestClient, email: str) -> None:
    token = CSRF.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    response = client.post("/console/login", data={"email": email, "password": PASSWORD,
                                                   "csrf_token": token})
    assert response.status_code == 303, response.text


def measure(client: TestClient, path: str, n: int) -> tuple[list[float], list[float]]:
    wall, server = [], []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        wall.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        timing = response.headers.get("server-timing", "")
        total = [p for p in timing.split(",") if "total;dur=" in p]
        if total:
            server.append(float(total[0].split("=")[1]))
    return wall, server


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, acme = build(Path(tmp))
        pages = [
            ("admin@acme.bench", f"/console/orgs/{acme}/privacy"),
            ("admin@acme.bench", f"/console/orgs/{acme}/exchanges"),
            ("admin@acme.bench", "/console/exchanges/ex_bench_7"),
            ("admin@acme.bench", f"/console/orgs/{acme}/audit"),
            ("reviewer@provider.bench", "/console/reviews"),
            ("reviewer@provider.bench", "/console/orgs"),
            ("legal@provider.bench", "/console/holds"),
            ("legal@provider.bench", "/console/audit"),
            ("trust_safety@provider.bench", "/console/flagged"),
        ]
        with TestClient(app, follow_redirects=False) as client:
            base_wall, _ = measure(client, "/console/static/console.css", args.requests)
        base = statistics.median(base_wall)
        print(f"baseline  static stylesheet            p50 {base:6.2f} ms  "
              f"p99 {pct(base_wall, 99):6.2f} ms")
        print(f"{'page':<42} {'wall p50':>9} {'wall p99':>9} {'server p50':>11} "
              f"{'server p99':>11} {'x baseline':>10}")
        for email, path in pages:
            with TestClient(app, follow_redirects=False) as client:
                sign_in(client, email)
                measure(client, path, 5)                       # warm caches
                wall, server = measure(client, path, args.requests)
            shown = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{org}", path)
            print(f"{shown:<42} {statistics.median(wall):9.2f} {pct(wall, 99):9.2f} "
                  f"{statistics.median(server):11.2f} {pct(server, 99):11.2f} "
                  f"{statistics.median(wall) / base:10.1f}")


if __name__ == "__main__":
    main()
