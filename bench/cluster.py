"""How fast an arrangement change reaches another instance of a cluster (zdr cluster up).

    .venv/bin/python bench/cluster.py [--flips 20] [--workers 2]

Starts a local cluster (PostgreSQL, two `zdr serve` instances, nginx) with the default key-cache
TTL (2 s), then, `--flips` times: approves or revokes ZDR for one org through instance 1's admin
API and polls instance 2 with Messages requests until `zdr-retention` changes. Baselines of the
same run: one request's round trip to instance 2 (the poll's own resolution) and the TTL, which
is how long a change could take without the notice (half of it on average). Writes
bench/results/cluster.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from zdr.cluster.local import LocalCluster
from zdr.control.plane import build_control_plane
from zdr.control.roles import system_actor
from zdr.settings import Settings, load_settings
from zdr.testing.probes import admin_post, retention_of

ORG = "bench-flip"
RESULTS = Path(__file__).parent / "results" / "cluster.md"


def seconds_until(url: str, key: str, expected: str) -> float:
    started = time.monotonic()
    while retention_of(url, key) != expected:
        if time.monotonic() - started > 30:
            raise RuntimeError(f"{expected} never seen")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    with LocalCluster(instances_at_start=2, workers=args.workers, env=env) as cluster:
        plane = build_control_plane(load_settings(env={}, home=cluster.home))
        operator = system_actor()
        plane.accounts.create_user(operator, "reviewer@example.com", provider_roles=["reviewer"])
        reviewer = plane.accounts.create_token(operator, "reviewer@example.com").secret
        plane.orgs.create(operator, ORG, "api")
        key = plane.keys.create(operator, ORG, None, "api", None).secret
        plane.ctx.engine.dispose()
        one, two = cluster.instances[0].url, cluster.instances[1].url
        round_trips = []
        for _ in range(50):
            started = time.monotonic()
            retention_of(two, key)
            round_trips.append(time.monotonic() - started)
        took = []
        for flip in range(args.flips):
            if flip % 2 == 0:
                admin_post(one, cluster.admin_token or "", f"/orgs/{ORG}/zdr/request", {})
                admin_post(one, reviewer, f"/orgs/{ORG}/zdr/approve", {})
                took.append(seconds_until(two, key, "zero"))
            else:
                admin_post(one, reviewer, f"/orgs/{ORG}/zdr/revoke", {})
                took.append(seconds_until(two, key, "30d"))
    took.sort()
    ttl = Settings().key_cache_ttl_seconds
    rtt = statistics.median(round_trips)
    p50, p95 = statistics.median(took), took[int(0.95 * (len(took) - 1))]
    lines = [
        "# Arrangement change → another instance (bench/cluster.py)", "",
        f"Command: `.venv/bin/python bench/cluster.py --flips {args.flips} "
        f"--workers {args.workers}`", "",
        "| figure | seconds | ratio |", "|---|---|---|",
        f"| propagation p50 | {p50:.3f} | {p50 / rtt:.1f} x one round trip |",
        f"| propagation p95 | {p95:.3f} | {p95 / rtt:.1f} x one round trip |",
        f"| propagation max | {took[-1]:.3f} | {took[-1] / ttl:.3f} x the TTL |",
        f"| baseline: one request to instance 2 (p50) | {rtt:.3f} | |",
        f"| baseline: the TTL fallback, mean / max | {ttl / 2:.1f} / {ttl:.1f} | "
        f"{(ttl / 2) / p50:.0f} x slower than the notice (p50) |",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
