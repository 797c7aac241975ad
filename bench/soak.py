"""Memory over time: does a gateway worker's RSS stay flat under steady load?

One `zdr serve` (fresh home, a ZDR org and a standard org) in front of the project's stand-in
upstream. For `--minutes`, load goes out in slices of `--slice` seconds at `--concurrency`
connections, turning over four workloads (small JSON and 20-chunk streams, each for the ZDR and
the standard org's key); after each slice every process of the gateway's tree is sampled (RSS from
/proc). The first `--warmup` minutes are excluded (caches, arenas and the classifier's model fill
up); the verdict compares the rest: growth from the first to the last sample and the slope of a
least-squares line, per process.

    .venv/bin/python bench/soak.py                          # 10 minutes, 1 worker
    .venv/bin/python bench/soak.py --minutes 2 --slice 10   # a quick look

Loopback only; the load is bounded by the time given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import zdr_target
from compare import PYTHON, Server, small_body, start_server
from loadgen import LoadSpec, run_load
from proc_tree import descendants, load_average, rss_bytes

from zdr.testing.servers import free_port

MB = 1024 * 1024
FLAT_GROWTH_MB = 10.0        # less than this from first to last sample after warm-up: flat
STREAM_CHUNKS = 20


@dataclass
class Series:
    label: str
    samples: list[tuple[float, int]] = field(default_factory=list)   # (minutes, bytes)

    def after(self, warmup: float) -> list[tuple[float, int]]:
        return [s for s in self.samples if s[0] >= warmup]

    def slope_mb_per_min(self, warmup: float) -> float:
        points = self.after(warmup)
        if len(points) < 2:
            return 0.0
        slope, _ = statistics.linear_regression([t for t, _ in points], [b / MB for _, b in points])
        return slope


def _label(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    if "multiprocessing" in text or "spawn_main" in text or "forkserver" in text:
        return f"child {pid}"
    return f"gateway {pid}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--slice", type=float, default=20.0, help="seconds of load per sample")
    parser.add_argument("--warmup", type=float, default=1.0, help="minutes left out of the verdict")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="zdr-bench-soak-"))
    port = free_port()
    upstream = start_server("stand-in", zdr_target.stub_command(PYTHON, port, STREAM_CHUNKS),
                            port, workdir)
    servers: list[Server] = [upstream]
    try:
        home = workdir / "zdr-home"
        keys = zdr_target.prepare_home(PYTHON, home)
        port = free_port()
        gateway = start_server(
            "zdr", zdr_target.serve_command(PYTHON, port, upstream.base_url, args.workers),
            port, workdir, env={"ZDR_HOME": str(home)})
        servers.append(gateway)
        _soak(args, gateway, keys)
    finally:
        for server in reversed(servers):
            server.stop()


def _soak(args: argparse.Namespace, gateway: Server, keys: dict[str, str]) -> None:
    url = gateway.base_url + "/v1/messages"
    workloads = [(target, stream) for stream in (False, True) for target in keys]
    series: dict[int, Series] = {}
    started = time.monotonic()
    total_ok = total_errors = 0
    print(f"soak: {args.minutes:g} min, {args.concurrency} connections, {args.workers} worker(s), "
          f"load average {load_average()}", flush=True)
    turn = 0
    while (time.monotonic() - started) / 60 < args.minutes:
        target, stream = workloads[turn % len(workloads)]
        turn += 1
        headers = {"content-type": "application/json", "anthropic-version": "2023-06-01",
                   "x-api-key": keys[target]}
        result = run_load(LoadSpec(url, small_body(stream), headers, args.concurrency,
                                   10_000_000, args.slice, processes=1))
        total_ok += result.ok
        total_errors += result.errors
        minute = (time.monotonic() - started) / 60
        pids = descendants(gateway.pid)
        for pid in pids:
            series.setdefault(pid, Series(_label(pid))).samples.append(
                (minute, rss_bytes([pid])))
        tree = sum(series[p].samples[-1][1] for p in pids if p in series)
        print(f"  {minute:5.1f} min  {target:<12} {'stream' if stream else 'small':<6} "
              f"{result.throughput:7.0f} req/s  tree RSS {tree / MB:6.1f} MB  "
              f"errors {result.errors}", flush=True)
    _verdict(args, series, total_ok, total_errors)


def _verdict(args: argparse.Namespace, series: dict[int, Series], ok: int, errors: int) -> None:
    print(f"\n{ok:,} requests, {errors} errors; warm-up {args.warmup:g} min left out")
    print(f"{'process':<16} {'first MB':>9} {'last MB':>9} {'growth MB':>10} {'slope MB/min':>13}"
          f"  verdict")
    flat_all = True
    for entry in series.values():
        points = entry.after(args.warmup)
        if len(points) < 2:
            continue
        first, last = points[0][1] / MB, points[-1][1] / MB
        growth, slope = last - first, entry.slope_mb_per_min(args.warmup)
        flat = growth < FLAT_GROWTH_MB
        flat_all &= flat
        print(f"{entry.label:<16} {first:9.1f} {last:9.1f} {growth:10.1f} {slope:13.2f}  "
              f"{'flat' if flat else 'GROWS'}")
    print(f"\nRSS per process {'flat' if flat_all else 'NOT flat'} "
          f"(flat: < {FLAT_GROWTH_MB:g} MB from the first to the last sample after warm-up)")
    sys.exit(0 if flat_all else 1)


if __name__ == "__main__":
    main()
