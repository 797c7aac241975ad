"""The gateway's overhead, measured against baselines in the same run.

Targets, each on the same stand-in upstream (`zdr stub-upstream`, its own process):
  direct       the stand-in itself (the baseline)
  bare         a bare pass-through proxy on the gateway's own stack (bench/bare_proxy.py: raw ASGI
               on uvicorn + aiohttp client; no auth, no policy, no store): the stack's ceiling
  gateway      the zdr gateway app with in-memory ports (auth cache, facts, decision, relay,
               observer, metrics, JSON logs): the gateway's own cost
  serve-zdr    `zdr serve` as shipped (SQL store on SQLite), a ZDR org: metadata per exchange

Mixes: small JSON (`stream: false`) and streamed (`stream: true`, 8 text deltas), each with 50
concurrent keep-alive connections from a 2-process load generator (bench/loadgen.py), bounded by
count and time; plus an unloaded pass (1 connection) for the latency the gateway adds per request.
Loopback only.

    .venv/bin/python bench/gateway.py [--seconds 5] [--concurrency 50] \\
        [--out bench/results/gateway.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from loadgen import LoadResult, LoadSpec, percentile_ms, run_load  # noqa: E402
from zdr_target import prepare_home, serve_command  # noqa: E402

from zdr.testing.servers import free_port, wait_port  # noqa: E402

PY = sys.executable
REPLY = ("Here is a short answer. " * 9)[:200]
KEY = "sk-zdr-bench0000-" + "b" * 43






def serve_gateway(port: int, upstream: str, log_dir: str) -> None:
    """(child process) The gateway app with in-memory ports, under uvicorn like `zdr serve`."""
    import uvicorn

    from zdr.gateway.server_protocol import PROTOCOL
    from zdr.inmemory import InMemoryDirectory, NullSafetyQueue
    from zdr.observability import file_and_stderr_writer
    from zdr.settings import load_settings
    from zdr.wiring import build_app

    class CountingSink:
        def __init__(self) -> None:
            self.count = 0

        async def record_metadata(self, meta: Any) -> None:
            self.count += 1

        async def record_retained(self, meta: Any, content: Any, *, ongoing: bool = False) -> None:
            self.count += 1

    settings = load_settings(env={}, home=log_dir, upstream_url=upstream)
    directory = InMemoryDirectory()
    _, principal = directory.create_key("bench-zdr", zdr=True)
    directory.add(KEY, principal)
    app = build_app(settings, directory=directory, sink=CountingSink(), safety=NullSafetyQueue(),
                    log_writer=file_and_stderr_writer(settings.log_file, stderr=False),
                    use_store=False)
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http=PROTOCOL,
                access_log=False, log_level="warning")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Servers:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], port: int, env: dict[str, str] | None = None) -> str:
        proc = subprocess.Popen(command, env={**os.environ, **(env or {})},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_port(port)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def body(stream: bool) -> bytes:
    return orjson.dumps({"model": "claude-sonnet-5", "max_tokens": 256, "stream": stream,
                         "messages": [{"role": "user", "content": "Say something short."}]})


def measure(url: str, key: str, stream: bool, concurrency: int, requests: int,
            seconds: float, processes: int, pid: int) -> tuple[LoadResult, float]:
    """One loaded run; returns the result and the server's CPU microseconds per request."""
    headers = {"content-type": "application/json", "x-api-key": key,
               "anthropic-version": "2023-06-01"}
    spec = LoadSpec(url + "/v1/messages", body(stream), headers, concurrency, requests, seconds,
                    processes)
    run_load(LoadSpec(spec.url, spec.body, headers, min(concurrency, 8), 200, 2.0,
                      processes))   # warm-up: connections and caches
    before = cpu_seconds(pid)
    result = run_load(spec)
    return result, (cpu_seconds(pid) - before) / max(result.ok, 1) * 1e6


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="time cap per loaded run")
    parser.add_argument("--requests", type=int, default=30000, help="count cap per loaded run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--unloaded", type=int, default=400, help="sequential requests")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument("--skip-serve", action="store_true", help="skip the `zdr serve` target")
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report here")
    args = parser.parse_args()

    servers = Servers()
    work = Path(tempfile.mkdtemp(prefix="zdr-bench-"))
    rows: dict[tuple[str, str, str], LoadResult] = {}
    cpu: dict[tuple[str, str], float] = {}
    try:
        stub_port = free_port()
        stub = servers.start([PY, "-c", "from zdr.cli import main; main()", "stub-upstream",
                              "--port", str(stub_port), "--chunks", "8", "--output", REPLY],
                             stub_port)
        targets = {"direct": (stub, "unused", servers.procs[-1].pid)}
        port = free_port()
        url = servers.start([PY, str(BENCH / "bare_proxy.py"), "--port", str(port),
                             "--upstream", stub], port)
        targets["bare"] = (url, "unused", servers.procs[-1].pid)
        port = free_port()
        url = servers.start([PY, str(Path(__file__).resolve()), "--serve-gateway", str(port),
                             stub, str(work / "gw-home")], port)
        targets["gateway"] = (url, KEY, servers.procs[-1].pid)
        if not args.skip_serve:
            home = work / "serve-home"
            keys = prepare_home(PY, home)
            port = free_port()
            url = servers.start(serve_command(PY, port, stub, 1), port, {"ZDR_HOME": str(home)})
            targets["serve-zdr"] = (url, keys["zdr-zdr"], servers.procs[-1].pid)
        runs: dict[tuple[str, str, str], list[LoadResult]] = {}
        cpus: dict[tuple[str, str], list[float]] = {}
        for repeat in range(args.repeat):   # interleaved, so drifting machine load hits all
            for mix, stream in (("json", False), ("stream", True)):
                for name, (url, key, pid) in targets.items():
                    unloaded, _ = measure(url, key, stream, 1, args.unloaded, 10.0, 1, pid)
                    loaded, used = measure(url, key, stream, args.concurrency, args.requests,
                                           args.seconds, args.processes, pid)
                    runs.setdefault((name, mix, "unloaded"), []).append(unloaded)
                    runs.setdefault((name, mix, "loaded"), []).append(loaded)
                    cpus.setdefault((name, mix), []).append(used)
                    print(f"#{repeat + 1} {mix:6} {name:10} {loaded.throughput:8.0f} req/s  p50 "
                          f"{fmt(percentile_ms(loaded.latencies, 50))} ms  p99 "
                          f"{fmt(percentile_ms(loaded.latencies, 99))} ms  errors "
                          f"{loaded.errors}  server CPU {used:.0f} us/req", flush=True)
        for key3, results in runs.items():   # the median run of each
            ordered = sorted(results, key=(lambda r: r.throughput) if key3[2] == "loaded"
                             else (lambda r: percentile_ms(r.latencies, 50) or 0.0))
            rows[key3] = ordered[len(ordered) // 2]
        cpu.update({k: sorted(v)[len(v) // 2] for k, v in cpus.items()})
    finally:
        servers.stop()
    report = render(rows, cpu, list(targets), args)
    print(report)
    if args.out:
        args.out.write_text(report)


def render(rows: dict[tuple[str, str, str], LoadResult], cpu: dict[tuple[str, str], float],
           targets: list[str], args: argparse.Namespace) -> str:
    lines = [
        f"| mix | target | req/s (c={args.concurrency}) | p50 ms | p99 ms | TTFB p50 ms | "
        "unloaded p50 ms | unloaded p99 ms | unloaded TTFB p50 ms | server CPU µs/req | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for mix in ("json", "stream"):
        direct = rows[("direct", mix, "loaded")]
        bare = rows[("bare", mix, "loaded")]
        d_un = rows[("direct", mix, "unloaded")]
        for name in targets:
            loaded, unloaded = rows[(name, mix, "loaded")], rows[(name, mix, "unloaded")]
            lines.append(
                f"| {mix} | {name} | {loaded.throughput:.0f} | "
                f"{fmt(percentile_ms(loaded.latencies, 50))} | "
                f"{fmt(percentile_ms(loaded.latencies, 99))} | "
                f"{fmt(percentile_ms(loaded.ttfbs, 50))} | "
                f"{fmt(percentile_ms(unloaded.latencies, 50))} | "
                f"{fmt(percentile_ms(unloaded.latencies, 99))} | "
                f"{fmt(percentile_ms(unloaded.ttfbs, 50))} | {cpu[(name, mix)]:.0f} | "
                f"{loaded.errors + unloaded.errors} |")
            if name in ("direct", "bare"):
                continue

            def added(result: LoadResult, base: LoadResult, pct: float, ttfb: bool = False) -> str:
                a = percentile_ms(result.ttfbs if ttfb else result.latencies, pct)
                b = percentile_ms(base.ttfbs if ttfb else base.latencies, pct)
                return "-" if a is None or b is None else f"{a - b:+.2f} ms"

            summary.append(
                f"- **{mix}, {name}**: throughput {loaded.throughput / direct.throughput:.0%} of "
                f"direct, {loaded.throughput / bare.throughput:.0%} of bare pass-through; added "
                f"latency unloaded p50 {added(unloaded, d_un, 50)}, p99 {added(unloaded, d_un, 99)}"
                f"; added at c={args.concurrency} p50 {added(loaded, direct, 50)}, p99 "
                f"{added(loaded, direct, 99)}"
                + (f"; stream TTFB added (unloaded p50) {added(unloaded, d_un, 50, True)}"
                   if mix == "stream" else "")
                + f"; proxy CPU per request {cpu[(name, mix)] / cpu[('bare', mix)]:.2f}x the "
                  f"bare pass-through's")
    bare_json = rows[("bare", "json", "loaded")].throughput
    bare_stream = rows[("bare", "stream", "loaded")].throughput
    direct_json = rows[("direct", "json", "loaded")].throughput
    direct_stream = rows[("direct", "stream", "loaded")].throughput
    summary.append(f"- bare pass-through itself: {bare_json / direct_json:.0%} of direct (json), "
                   f"{bare_stream / direct_stream:.0%} (stream)")
    return "\n".join([*lines, "", *summary]) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-gateway":
        serve_gateway(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
