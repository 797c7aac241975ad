"""A multi-process HTTP load generator: aiohttp clients on uvloop, one client per process.

It sends one fixed request (method POST, a JSON body, fixed headers) over `concurrency` keep-alive
connections until `requests` are done or `time_cap` seconds have passed, and reports per-request
latency (request sent → last byte) and time to first byte (request sent → first body chunk; for
SSE streams the first event). Loopback only: `run_load` refuses any other host.

Each process runs `concurrency / processes` connections, so the client's own CPU is spread over the
cores. The processes open their connections first, then start together on a shared event, so
connection set-up is not measured.

    .venv/bin/python bench/loadgen.py --url http://127.0.0.1:8788/v1/messages \\
        --body-file body.json -c 16 -n 2000 --time-cap 20 --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import multiprocessing as mp
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

try:  # uvloop is a dependency of uvicorn[standard]; run without it elsewhere.
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


@dataclass(frozen=True)
class LoadSpec:
    url: str
    body: bytes
    headers: dict[str, str]
    concurrency: int
    requests: int
    time_cap: float
    processes: int = 1


@dataclass
class LoadResult:
    """What one run measured. Times are seconds; `latencies`/`ttfbs` are per successful request."""

    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfbs: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    bytes_received: int = 0
    capped: bool = False

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(self.throughput, 1),
            "p50_ms": percentile_ms(self.latencies, 50),
            "p99_ms": percentile_ms(self.latencies, 99),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 3)
            if self.latencies
            else None,
            "ttfb_p50_ms": percentile_ms(self.ttfbs, 50),
            "ttfb_p99_ms": percentile_ms(self.ttfbs, 99),
            "bytes": self.bytes_received,
            "capped": self.capped,
            "error_samples": self.error_samples[:3],
        }


def percentile_ms(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return round(ordered[rank] * 1000, 3)


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"load is sent to loopback addresses only, not {host!r}")


async def _one_connection(
    session: aiohttp.ClientSession,
    spec: LoadSpec,
    quota: list[int],
    deadline_holder: list[float],
    result: LoadResult,
) -> None:
    while quota[0] > 0:
        if time.perf_counter() > deadline_holder[0]:
            result.capped = True
            return
        quota[0] -= 1
        started = time.perf_counter()
        first: float | None = None
        size = 0
        try:
            async with session.post(spec.url, data=spec.body, headers=spec.headers) as response:
                async for chunk in response.content.iter_any():
                    if first is None:
                        first = time.perf_counter()
                    size += len(chunk)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            result.errors += 1
            if len(result.error_samples) < 3:
                result.error_samples.append(type(exc).__name__)
            continue
        done = time.perf_counter()
        if status != 200:
            result.errors += 1
            if len(result.error_samples) < 3:
                result.error_samples.append(f"HTTP {status}")
            continue
        result.ok += 1
        result.bytes_received += size
        result.latencies.append(done - started)
        result.ttfbs.append((first or done) - started)


async def _run_process(
    spec: LoadSpec, connections: int, requests: int, start: Any, ready: Any
) -> LoadResult:
    result = LoadResult()
    timeout = aiohttp.ClientTimeout(total=max(spec.time_cap * 2, 30))
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Open every connection once before the clock starts (a GET that any server answers).
        warm = [session.get(spec.url.rsplit("/", 2)[0] + "/") for _ in range(connections)]
        for response in await asyncio.gather(
            *(w.__aenter__() for w in warm), return_exceptions=True
        ):
            if isinstance(response, aiohttp.ClientResponse):
                await response.read()
                response.release()
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        quota = [requests]
        began = time.perf_counter()
        deadline = [began + spec.time_cap]
        await asyncio.gather(
            *(_one_connection(session, spec, quota, deadline, result) for _ in range(connections))
        )
        result.elapsed = time.perf_counter() - began
    return result


def _process_main(
    spec: LoadSpec, connections: int, requests: int, start: Any, ready: Any, out: Any
) -> None:
    if uvloop is not None:
        uvloop.install()
    result = asyncio.run(_run_process(spec, connections, requests, start, ready))
    out.send(result)
    out.close()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the load in `spec.processes` processes and merge what they measured."""
    require_loopback(spec.url)
    processes = max(1, min(spec.processes, spec.concurrency))
    context = mp.get_context("fork")
    start, workers, pipes = context.Event(), [], []
    readies = []
    for connections, requests in zip(
        _split(spec.concurrency, processes), _split(spec.requests, processes), strict=True
    ):
        receiver, sender = context.Pipe(duplex=False)
        ready = context.Event()
        worker = context.Process(
            target=_process_main,
            args=(spec, connections, requests, start, ready, sender),
            daemon=True,
        )
        worker.start()
        workers.append(worker)
        pipes.append(receiver)
        readies.append(ready)
    for ready in readies:
        ready.wait(timeout=30)
    start.set()
    merged = LoadResult()
    for receiver, worker in zip(pipes, workers, strict=True):
        if receiver.poll(spec.time_cap * 3 + 60):
            part: LoadResult = receiver.recv()
            merged.ok += part.ok
            merged.errors += part.errors
            merged.elapsed = max(merged.elapsed, part.elapsed)
            merged.latencies.extend(part.latencies)
            merged.ttfbs.extend(part.ttfbs)
            merged.error_samples.extend(part.error_samples)
            merged.bytes_received += part.bytes_received
            merged.capped = merged.capped or part.capped
        else:
            merged.errors += 1
            merged.error_samples.append("load process did not answer")
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="NAME: VALUE (repeatable)")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--time-cap", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    headers = {"content-type": "application/json"}
    for item in args.header:
        name, _, value = item.partition(":")
        headers[name.strip()] = value.strip()
    with open(args.body_file, "rb") as handle:
        body = handle.read()
    spec = LoadSpec(
        args.url, body, headers, args.concurrency, args.requests, args.time_cap, args.processes
    )
    print(json.dumps(run_load(spec).summary(), indent=2))


if __name__ == "__main__":
    main()
