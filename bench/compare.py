"""Side-by-side: zdr-gateway vs. LiteLLM's proxy vs. a bare pass-through vs. the wire.

One command starts the project's stand-in upstream once, then, one server at a time, every target
in front of it, and sends each the same bounded workload over loopback:

    .venv/bin/python bench/compare.py            # the full run (~15 min on 2 cores)
    .venv/bin/python bench/compare.py --quick    # a few minutes, fewer requests

Targets: `direct` (the stand-in alone), `bare` (bench/bare_proxy.py: raw ASGI on uvicorn with
aiohttp's client, no auth/policy/store), `bare-own` (the same pass-through on the gateway's own
stack: `zdr serve`'s HTTP/1.1 protocol and an httptools keep-alive pool upstream,
bench/ceiling_proxy.py `--server zdr-own --client httptools`), `zdr-zdr` and `zdr-standard` (one
`zdr serve`, keys of a ZDR org and of a standard org whose content is stored), `litellm-off` and
`litellm-on` (LiteLLM's proxy with its request logging off / on, installed into
bench/.venv-litellm on first run).

Scenarios: small non-streamed messages, streamed messages (20 SSE chunks), a 200 KB conversation;
each at concurrency 1, 16 and 64. Latency and throughput come from `wrk` (installed from Debian's
packages when missing; the Python load generator otherwise); time to first byte of streams from
bench/loadgen.py. The tables and the performance goals go to bench/results/compare.md, raw
figures to bench/results/compare.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import litellm_peer
import report
import zdr_target
from loadgen import LoadSpec, run_load
from proc_tree import TreeMonitor, load_average
from wrk_load import run_wrk, wrk_path

from zdr.testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
MODEL = "claude-sonnet-4-5"
STREAM_CHUNKS = 20
CONCURRENCIES = (1, 16, 64)
BASELINE_KEYS = ("rps", "p50_ms", "p99_ms", "ttfb_p50_ms", "ttfb_p99_ms")


# ---------------------------------------------------------------- workloads


def small_body(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def conversation_body(size: int = 200 * 1024) -> bytes:
    """A multi-turn conversation whose JSON body is `size` bytes, give or take a turn."""
    turn = (
        "The quarterly report lists revenue by region, churn by cohort and the open risks. "
        "Summarise what changed since last quarter and what needs a decision. "
    ) * 6
    messages: list[dict[str, str]] = []
    while len(json.dumps(messages)) < size - 600:
        role = "user" if len(messages) % 2 == 0 else "assistant"
        messages.append({"role": role, "content": f"[{len(messages)}] {turn}"})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "And the decision?"})
    return json.dumps({"model": MODEL, "max_tokens": 256, "messages": messages}).encode()


@dataclass(frozen=True)
class Scenario:
    workload: str  # small | stream | conversation
    concurrency: int
    body: bytes = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.workload} c={self.concurrency}"

    @property
    def stream(self) -> bool:
        return self.workload == "stream"


def scenarios(only: set[str] | None) -> list[Scenario]:
    bodies = {
        "small": small_body(False),
        "stream": small_body(True),
        "conversation": conversation_body(),
    }
    return [
        Scenario(w, c, bodies[w])
        for w in bodies
        for c in CONCURRENCIES
        if not only or w in only or f"{w}:{c}" in only
    ]


# ---------------------------------------------------------------- servers




@dataclass
class Server:
    """A process group we started; stopped by its own id."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_server(
    name: str,
    command: list[str],
    port: int,
    workdir: Path,
    env: dict[str, str] | None = None,
    health: str = "/",
    wait: float = 120.0,
) -> Server:
    log = workdir / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=workdir,
            start_new_session=True,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()[-800:]}")
        try:
            with urllib.request.urlopen(server.base_url + health, timeout=2):
                return server
        except urllib.error.HTTPError:
            return server  # it answers: up
        except OSError:
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"{name} did not answer on port {port} within {wait:.0f} s")


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    label: str
    server: str | None  # key of the server that serves it; None: the stand-in itself
    path: str = "/v1/messages"
    api_key: str = "sk-ant-bench-direct"
    base_url: str = ""
    monitor_pid: int = 0
    # zdr-gateway's background queues (store writes, classifier) that must be empty before a run
    # starts and that a run's CPU includes until they are: work deferred past a run is its cost.
    backlog_gauges: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "x-api-key": self.api_key,
        }


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    wrk: str | None
    upstream: Server | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    all_rounds: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # The servers, keyed by the name the targets use; each returns its Server and the keys.
    def server_factories(self) -> dict[str, Callable[[], tuple[Server, dict[str, str]]]]:
        return {
            "bare": self.start_bare,
            "bare-own": self.start_bare_own,
            "zdr": self.start_zdr,
            "litellm-off": lambda: self.start_litellm(False),
            "litellm-on": lambda: self.start_litellm(True),
        }

    def start_upstream(self) -> Server:
        port = free_port()
        command = zdr_target.stub_command(PYTHON, port, STREAM_CHUNKS)
        return start_server("stand-in", command, port, self.workdir)

    def start_bare(self) -> tuple[Server, dict[str, str]]:
        assert self.upstream
        port = free_port()
        command = [
            PYTHON,
            str(ROOT / "bench" / "bare_proxy.py"),
            "--port",
            str(port),
            "--upstream",
            self.upstream.base_url,
            "--workers",
            str(self.args.workers),
        ]
        return start_server("bare", command, port, self.workdir), {}

    def start_bare_own(self) -> tuple[Server, dict[str, str]]:
        """The bare pass-through on the gateway's own server protocol and upstream pool."""
        assert self.upstream
        port = free_port()
        command = [PYTHON, str(ROOT / "bench" / "ceiling_proxy.py"), "--server", "zdr-own",
                   "--client", "httptools", "--port", str(port),
                   "--upstream", self.upstream.base_url]
        return start_server("bare-own", command, port, self.workdir), {}

    def start_zdr(self) -> tuple[Server, dict[str, str]]:
        assert self.upstream
        home = self.workdir / "zdr-home"
        keys = zdr_target.prepare_home(PYTHON, home)
        port = free_port()
        command = zdr_target.serve_command(PYTHON, port, self.upstream.base_url, self.args.workers)
        server = start_server("zdr", command, port, self.workdir, env={"ZDR_HOME": str(home)})
        return server, keys

    def start_litellm(self, logging_on: bool) -> tuple[Server, dict[str, str]]:
        assert self.upstream
        litellm_peer.ensure_installed(self.workdir / "litellm-install.log")
        name = "litellm-on" if logging_on else "litellm-off"
        folder = self.workdir / name
        litellm_peer.write_config(folder, self.upstream.base_url, MODEL, logging_on)
        port = free_port()
        server = start_server(
            name,
            litellm_peer.command(folder, port, self.args.workers),
            port,
            folder,
            env=litellm_peer.environment(folder),
            health="/health/liveliness",
            wait=240,
        )
        return server, {"default": litellm_peer.MASTER_KEY}


ZDR_BACKLOG = ("zdr_store_write_queue_depth", "zdr_classifier_queue_depth")
DRAIN_CAP_S = 60.0


def backlog(target: Target) -> float:
    """The sum of the target's backlog gauges on its /metrics (0 when it has none)."""
    if not target.backlog_gauges:
        return 0.0
    with urllib.request.urlopen(target.base_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[1]) for line in text.splitlines()
               if line.split(" ", 1)[0] in target.backlog_gauges)


def drain(target: Target) -> float:
    """Wait until the target's background queues are empty; the seconds it took (capped)."""
    started = time.monotonic()
    while backlog(target) > 0 and time.monotonic() - started < DRAIN_CAP_S:
        time.sleep(0.02)
    return round(time.monotonic() - started, 3)


def target_list() -> list[Target]:
    """Every target; adding one is one entry here (and a server factory if it needs a server)."""
    return [
        Target("direct", "direct (stand-in alone)", None),
        Target("bare", "bare pass-through (uvicorn + aiohttp)", "bare"),
        Target("bare-own", "bare pass-through on the gateway's stack (own protocol + httptools)",
               "bare-own"),
        Target("zdr-zdr", "zdr-gateway, ZDR org", "zdr", backlog_gauges=ZDR_BACKLOG),
        Target("zdr-standard", "zdr-gateway, standard org (content stored)", "zdr",
               backlog_gauges=ZDR_BACKLOG),
        Target("litellm-off", "LiteLLM proxy, logging off", "litellm-off"),
        Target("litellm-on", "LiteLLM proxy, logging on (content to a file)", "litellm-on"),
    ]


# ---------------------------------------------------------------- runs


def measure(bench: Bench, target: Target, scenario: Scenario) -> dict[str, Any]:
    args = bench.args
    url = target.base_url + target.path
    headers = target.headers()
    warm = max(50, args.requests // 20)
    warm_cap = min(1.0 if args.quick else 3.0, args.time_cap)
    threads = 1 if scenario.concurrency == 1 else 2
    if bench.wrk:
        run_wrk(
            bench.wrk,
            url,
            scenario.body,
            headers,
            scenario.concurrency,
            warm,
            warm_cap,
            threads,
        )
    else:
        run_load(
            LoadSpec(url, scenario.body, headers, scenario.concurrency, warm, warm_cap, threads)
        )
    drain(target)       # the warm-up's (or an earlier run's) deferred work is not this run's
    loadavg = load_average()
    upstream_pid = bench.upstream.pid if bench.upstream else 0
    with TreeMonitor([target.monitor_pid]) as gateway, TreeMonitor([upstream_pid]) as upstream:
        if bench.wrk:
            row = run_wrk(
                bench.wrk,
                url,
                scenario.body,
                headers,
                scenario.concurrency,
                args.requests,
                args.time_cap,
                threads,
            )
        else:
            result = run_load(
                LoadSpec(
                    url,
                    scenario.body,
                    headers,
                    scenario.concurrency,
                    args.requests,
                    args.time_cap,
                    threads,
                )
            )
            row = {**result.summary(), "tool": "loadgen.py"}
        row["drain_s"] = drain(target) if target.backlog_gauges else None
    if row["ok"] == 0:  # nothing finished within the cap: no latency to speak of
        row.update({"p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None})
    done = max(1, row["ok"] + row["errors"])
    row.update(
        {
            "target": target.name,
            "scenario": scenario.name,
            "workload": scenario.workload,
            "concurrency": scenario.concurrency,
            "loadavg": loadavg,
            "peak_rss_mb": round(gateway.peak_rss / 2**20, 1),
            "cpu_s_per_1k": round(gateway.cpu / done * 1000, 3),
            "upstream_cpu_s_per_1k": round(upstream.cpu / done * 1000, 3),
        }
    )
    if scenario.stream:
        ttfb = run_load(
            LoadSpec(
                url,
                scenario.body,
                headers,
                scenario.concurrency,
                max(200, args.requests // 4),
                args.time_cap / 2,
                threads,
            )
        )
        summary = ttfb.summary()
        row["ttfb_p50_ms"] = summary["ttfb_p50_ms"]
        row["ttfb_p99_ms"] = summary["ttfb_p99_ms"]
        row["ttfb_errors"] = summary["errors"]
    return row


def loadgen_ceiling(bench: Bench) -> list[dict[str, Any]]:
    """Each load generator alone against the stand-in: what it can drive at most."""
    assert bench.upstream
    url = bench.upstream.base_url + "/v1/messages"
    headers = Target("direct", "", None).headers()
    rows = []
    for workload, body in (("small", small_body(False)), ("stream", small_body(True))):
        for concurrency in (16, 64):
            if bench.wrk:
                wrk_row = run_wrk(
                    bench.wrk,
                    url,
                    body,
                    headers,
                    concurrency,
                    bench.args.requests,
                    bench.args.time_cap,
                    2,
                )
                rows.append(
                    {
                        "tool": "wrk",
                        "workload": workload,
                        "concurrency": concurrency,
                        "rps": wrk_row["rps"],
                        "p50_ms": wrk_row["p50_ms"],
                    }
                )
            py = run_load(
                LoadSpec(
                    url, body, headers, concurrency, bench.args.requests, bench.args.time_cap, 2
                )
            ).summary()
            rows.append(
                {
                    "tool": "loadgen.py (2 processes)",
                    "workload": workload,
                    "concurrency": concurrency,
                    "rps": py["rps"],
                    "p50_ms": py["p50_ms"],
                }
            )
    return rows


def bind(bench: Bench, target: Target, servers: dict[str, tuple[Server, dict[str, str]]]) -> bool:
    """Point a target at its running server; False when that server did not start."""
    if target.server is None:
        assert bench.upstream
        target.base_url = bench.upstream.base_url
        target.monitor_pid = bench.upstream.pid
        return True
    if target.server not in servers:
        return False
    server, keys = servers[target.server]
    target.base_url = server.base_url
    target.monitor_pid = server.pid
    target.api_key = keys.get(target.name, keys.get("default", "sk-none"))
    return True


def best_rounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per target and scenario, the round with the highest throughput (the least disturbed one
    on a shared machine); every round stays in the JSON file."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["target"], row["scenario"])
        if key not in best or row["rps"] > best[key]["rps"]:
            best[key] = row
    # What each kept row is compared with: `direct` of the same scenario in the same round.
    direct = {(r["scenario"], r.get("round")): r for r in rows if r["target"] == "direct"}
    for row in best.values():
        base = direct.get((row["scenario"], row.get("round")))
        if base is not None:
            row["baseline"] = {k: base.get(k) for k in BASELINE_KEYS}
    return list(best.values())


def run_all(bench: Bench, targets: list[Target], plan: list[Scenario]) -> None:
    """Start every server once, then run each scenario on all targets back to back (so they see
    the same background load), round after round."""
    factories = bench.server_factories()
    servers: dict[str, tuple[Server, dict[str, str]]] = {}
    try:
        for name in dict.fromkeys(t.server for t in targets if t.server):
            print(f"== starting {name}", flush=True)
            try:
                servers[name] = factories[name]()
            except Exception as exc:
                note = f"`{name}` did not start, its targets are left out: {exc}"
                bench.notes.append(" ".join(note.split())[:600])
                print(f"!! {note}", flush=True)
        live = [t for t in targets if bind(bench, t, servers)]
        for round_number in range(1, bench.args.rounds + 1):
            for scenario in plan:
                for target in live:
                    row = measure(bench, target, scenario)
                    row["round"] = round_number
                    bench.all_rounds.append(row)
                    print(
                        f"r{round_number} {target.name:13} {scenario.name:16}"
                        f" {row['rps']:9.1f} req/s  p50 {_ms(row['p50_ms'])}"
                        f"  p99 {_ms(row['p99_ms'])} ms  err {row['errors']}"
                        f"  load {row['loadavg']}",
                        flush=True,
                    )
    finally:
        for server, _ in servers.values():
            server.stop()
    bench.results = best_rounds(bench.all_rounds)


def _ms(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.2f}"


# ---------------------------------------------------------------- report


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {}
    for package in ("zdr-gateway", "uvicorn", "aiohttp", "starlette", "orjson", "uvloop"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    if litellm_peer.VENV.exists():
        versions["litellm"] = litellm_peer.version()
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        words = (out.stdout + out.stderr).split()
        versions["wrk"] = words[1] if len(words) > 1 else "?"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{mem_kb / 2**20:.0f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="zdr-compare-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"work folder kept: {folder}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer requests, shorter caps (a few minutes)"
    )
    parser.add_argument("--requests", type=int, help="requests per run (default 20000; quick 2000)")
    parser.add_argument(
        "--time-cap", type=float, help="seconds per run at most (default 10; quick 6)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes of every gateway")
    parser.add_argument(
        "--rounds", type=int, help="rounds over all runs, best kept (default 2; quick 1)"
    )
    parser.add_argument("--targets", help="comma-separated target names (default: all)")
    parser.add_argument("--scenarios", help="comma-separated workloads or workload:concurrency")
    parser.add_argument(
        "--python-loadgen", action="store_true", help="use loadgen.py instead of wrk"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "compare.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, homes)")
    parser.add_argument(
        "--from-json", type=Path, help="only render --out again from a saved compare.json"
    )
    args = parser.parse_args(argv)
    args.requests = args.requests or (2000 if args.quick else 20000)
    args.time_cap = args.time_cap or (6.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    return args


def render_saved(saved: Path, out: Path) -> None:
    """Write the report again from a run's JSON file (every round is in it)."""
    data = json.loads(saved.read_text(encoding="utf-8"))
    results = best_rounds(data["all_rounds"])
    targets = [t.name for t in target_list() if any(r["target"] == t.name for r in results)]
    out.write_text(
        report.render(data["meta"], results, data["ceiling"], targets, data["notes"]),
        encoding="utf-8",
    )
    print(report.render_targets(results))
    print(f"written: {out}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.from_json:
        render_saved(args.from_json, args.out)
        return
    command = ".venv/bin/python bench/compare.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    wrk = None if args.python_loadgen else wrk_path(install=True)
    wanted = set(args.targets.split(",")) if args.targets else None
    targets = [t for t in target_list() if not wanted or t.name in wanted or t.name == "direct"]
    plan = scenarios(set(args.scenarios.split(",")) if args.scenarios else None)
    started_at = datetime.now(UTC)
    with workdir(args.keep) as folder:
        bench = Bench(args, folder, wrk)
        if not wrk:
            bench.notes.append("wrk unavailable: all figures from loadgen.py (Python, 2 processes)")
        bench.upstream = bench.start_upstream()
        try:
            load_before = load_average()
            ceiling = loadgen_ceiling(bench)
            run_all(bench, targets, plan)
        finally:
            bench.upstream.stop()
    finished_at = datetime.now(UTC)
    meta = {
        "command": command.strip(),
        "started": started_at.isoformat(timespec="seconds"),
        "finished": finished_at.isoformat(timespec="seconds"),
        "loadavg_before": load_before,
        "loadavg_after": load_average(),
        "machine": machine(),
        "requests": args.requests,
        "time_cap": args.time_cap,
        "workers": args.workers,
        "rounds": args.rounds,
        "tool": "wrk" if wrk else "loadgen.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    markdown = report.render(meta, bench.results, ceiling, [t.name for t in targets], bench.notes)
    args.out.write_text(markdown, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "meta": meta,
                "results": bench.results,
                "all_rounds": bench.all_rounds,
                "ceiling": ceiling,
                "notes": bench.notes,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    print(report.render_targets(bench.results))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
