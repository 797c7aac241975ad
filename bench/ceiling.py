"""The stack's ceiling: the bare pass-through on other HTTP servers and upstream clients, in one
run beside today's stack (bench/bare_proxy.py: uvicorn + aiohttp) and the stand-in alone.

    .venv/bin/python bench/ceiling.py                       # 3 rounds (~10 min on 2 cores)
    .venv/bin/python bench/ceiling.py --rounds 1 --requests 1000 --time-cap 2    # a smoke run

First run: creates bench/.venv-ceiling (git-ignored) and installs the candidates there from PyPI
(pyreqwest, aiofastnet, granian, socketify, with uvicorn, uvloop, httptools, aiohttp); the
product's own environment is not touched. Every variant is bench/ceiling_proxy.py with one
server and one client (bench/ceiling_clients.py).

For each variant, first the checks (bench/ceiling_check.py, against a slow stand-in): does it
stream (first delta forwarded long before the upstream finishes) and does it cancel the upstream
request when its client hangs up. Then the load: workloads `small` (one short message, JSON, not
streamed) and `stream` (20 SSE deltas), at concurrency 1 and 16, every target back to back per
scenario (the order reversed every other round), `--rounds` rounds; the median round is kept.
Figures: req/s and p50/p99 (wrk), CPU seconds per 1,000 requests of the proxy's process tree
(/proc), each with its ratio to today's stack in the same run. On a shared machine the CPU figure
is the steady one.

Writes bench/results/ceiling.md and ceiling.json. Loopback only; every run bounded by
`--requests` and `--time-cap`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zdr_target
from ceiling_check import check
from compare import Server, machine, small_body, start_server
from proc_tree import TreeMonitor, load_average
from wrk_load import run_wrk, wrk_path

from zdr.testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV = BENCH / ".venv-ceiling"
PYTHON = sys.executable
CANDIDATES = ("pyreqwest", "aiofastnet", "granian", "uvicorn", "uvloop", "httptools", "aiohttp")
OPTIONAL = ("socketify",)  # no wheel on PyPI: an sdist with prebuilt libraries inside
STREAM_CHUNKS = 20
CHECK_DELAY_MS = 100.0
CONCURRENCIES = (1, 16)
BASELINE = "today"
HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-api-key": "sk-ant-bench-ceiling",
}


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    server: str | None = None  # None: the stand-in itself (direct) or today's bare_proxy.py
    client: str = "aiohttp"
    fastnet: bool = False
    needs: tuple[str, ...] = ()
    product: bool = False  # run with the product's Python (its protocols import zdr)

    def command(self, port: int, upstream: str) -> list[str]:
        if self.name == BASELINE:
            script = BENCH / "bare_proxy.py"
            return [PYTHON, str(script), "--port", str(port), "--upstream", upstream]
        assert self.server
        command = [
            PYTHON if self.product else str(VENV / "bin" / "python"),
            str(BENCH / "ceiling_proxy.py"),
            "--server", self.server,
            "--client", self.client,
            "--port", str(port),
            "--upstream", upstream,
        ]
        return command + (["--fastnet"] if self.fastnet else [])


VARIANTS = (
    Variant("direct", "stand-in alone (the wire)"),
    Variant(BASELINE, "today: bare_proxy.py, uvicorn + aiohttp"),
    Variant("uvicorn+aiohttp", "uvicorn + aiohttp (+ hang-up watch)", "uvicorn", "aiohttp"),
    Variant("uvicorn+pyreqwest", "uvicorn + pyreqwest", "uvicorn", "pyreqwest"),
    Variant("uvicorn+httptools", "uvicorn + httptools pool", "uvicorn", "httptools"),
    Variant("uvicorn+aiohttp/fastnet", "uvicorn + aiohttp, aiofastnet transports", "uvicorn",
            "aiohttp", fastnet=True),
    Variant("uvicorn+httptools/fastnet", "uvicorn + httptools pool, aiofastnet transports",
            "uvicorn", "httptools", fastnet=True),
    Variant("own-asgi+httptools", "own HTTP/1.1 protocol, ASGI app + httptools pool", "own-asgi",
            "httptools"),
    Variant("own-direct+httptools", "own HTTP/1.1 protocol, direct handler + httptools pool",
            "own-direct", "httptools"),
    Variant("zdr-bounded+httptools", "uvicorn with zdr serve's bounded protocol + httptools pool",
            "zdr-bounded", "httptools", product=True),
    Variant("zdr-own+httptools", "uvicorn with zdr serve's own protocol + httptools pool",
            "zdr-own", "httptools", product=True),
    Variant("granian-asgi+aiohttp", "granian ASGI + aiohttp", "granian-asgi", "aiohttp"),
    Variant("granian-rsgi+aiohttp", "granian RSGI + aiohttp", "granian-rsgi", "aiohttp"),
    Variant("granian-rsgi+pyreqwest", "granian RSGI + pyreqwest", "granian-rsgi", "pyreqwest"),
    Variant("granian-rsgi+httptools", "granian RSGI + httptools pool", "granian-rsgi",
            "httptools"),
    Variant("socketify+aiohttp", "socketify ASGI + aiohttp", "socketify", "aiohttp",
            needs=("socketify",)),
    Variant("socketify+httptools", "socketify ASGI + httptools pool", "socketify", "httptools",
            needs=("socketify",)),
)


# ---------------------------------------------------------------- the candidates' environment


def ensure_venv(log: Path) -> dict[str, str]:
    """Create bench/.venv-ceiling and install what is missing; returns {package: version or
    'not installed: why'}."""
    with log.open("ab") as out:
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out,
                           stderr=out)
        for packages, required in ((CANDIDATES, True), (OPTIONAL, False)):
            if all(_version(p) for p in packages):
                continue
            done = subprocess.run([str(VENV / "bin" / "pip"), "install", *packages], stdout=out,
                                  stderr=out, timeout=1200, check=False)
            if done.returncode and required:
                raise SystemExit(f"installing {packages} failed: see {log}")
    versions = {}
    for package in CANDIDATES + OPTIONAL:
        versions[package] = _version(package) or f"not installed (see {log.name})"
    return versions


def _version(package: str) -> str:
    found = subprocess.run(
        [str(VENV / "bin" / "python"), "-c",
         f"import importlib.metadata as m, {package}; print(m.version({package!r}))"],
        capture_output=True, text=True, check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else ""


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class Scenario:
    workload: str
    concurrency: int

    @property
    def name(self) -> str:
        return f"{self.workload} c={self.concurrency}"

    @property
    def body(self) -> bytes:
        return small_body(self.workload == "stream")


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    wrk: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def start_variant(run: Run, variant: Variant, upstream: Server, tag: str) -> Server:
    port = free_port()
    return start_server(f"{variant.name}-{tag}".replace("/", "-"),
                        variant.command(port, upstream.base_url), port, run.workdir, wait=60)


def run_checks(run: Run, variants: list[Variant]) -> None:
    """Streaming and hang-up cancellation of every proxy, against a slow stand-in of its own."""
    port = free_port()
    slow = start_server(
        "stand-in-slow",
        [*zdr_target.stub_command(PYTHON, port, STREAM_CHUNKS), "--chunk-delay-ms",
         str(CHECK_DELAY_MS)],
        port, run.workdir,
    )
    try:
        for variant in variants:
            if variant.name == "direct":
                continue
            server = start_variant(run, variant, slow, "check")
            try:
                result = check(server.base_url, slow.base_url, CHECK_DELAY_MS)
            except Exception as exc:  # a check that cannot finish is a failed check
                result = {"streams": False, "cancels": False, "error": str(exc)[:200]}
            finally:
                server.stop()
            run.checks[variant.name] = result
            print(f"check {variant.name:27} {json.dumps(result)}", flush=True)
    finally:
        slow.stop()


def measure(run: Run, variant: Variant, pid: int, url: str, scenario: Scenario) -> dict[str, Any]:
    args = run.args
    threads = 1 if scenario.concurrency == 1 else 2
    run_wrk(run.wrk, url, scenario.body, HEADERS, scenario.concurrency,
            max(100, args.requests // 10), min(1.0, args.time_cap), threads)  # warm-up
    loadavg = load_average()
    with TreeMonitor([pid]) as tree:
        row = run_wrk(run.wrk, url, scenario.body, HEADERS, scenario.concurrency,
                      args.requests, args.time_cap, threads)
    done = max(1, row["ok"] + row["errors"])
    row.update({
        "target": variant.name,
        "scenario": scenario.name,
        "loadavg": loadavg,
        "cpu_s_per_1k": round(tree.cpu / done * 1000, 3),
        "peak_rss_mb": round(tree.peak_rss / 2**20, 1),
    })
    return row


def run_load(run: Run, variants: list[Variant], plan: list[Scenario]) -> None:
    port = free_port()
    stub = start_server("stand-in", zdr_target.stub_command(PYTHON, port, STREAM_CHUNKS),
                        port, run.workdir)
    servers: dict[str, Server] = {}
    try:
        for variant in variants:
            if variant.name != "direct":
                servers[variant.name] = start_variant(run, variant, stub, "load")
        for number in range(1, run.args.rounds + 1):
            order = variants if number % 2 else list(reversed(variants))
            for scenario in plan:
                for variant in order:
                    server = servers.get(variant.name, stub)
                    if server.process.poll() is not None:
                        continue  # died earlier: noted at the end
                    try:
                        row = measure(run, variant, server.pid,
                                      server.base_url + "/v1/messages", scenario)
                    except RuntimeError as exc:  # wrk found nobody listening
                        print(f"r{number} {variant.name}: {exc}", flush=True)
                        continue
                    row["round"] = number
                    run.rows.append(row)
                    print(f"r{number} {variant.name:27} {scenario.name:12} {row['rps']:8.1f} req/s"
                          f"  p50 {row['p50_ms']:6.2f}  p99 {row['p99_ms']:6.2f} ms"
                          f"  cpu {row['cpu_s_per_1k']:.3f} s/1k  err {row['errors']}"
                          f"  load {row['loadavg'].split()[0]}", flush=True)
            partial = run.args.out.with_suffix(".partial.json")
            partial.write_text(json.dumps({"checks": run.checks, "rows": run.rows}, indent=1),
                               encoding="utf-8")
    finally:
        for name, server in servers.items():
            if server.process.poll() is not None:
                run.notes.append(f"`{name}` died during the load (exit {server.process.returncode}"
                                 f"): {_last_error(server.log)}; only its runs before that count")
            server.stop()
        stub.stop()


def _last_error(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if "rror" in line and not line.startswith(" ")]
    return lines[-1][:200].replace("`", "'") if lines else "no error line in its log"


# ---------------------------------------------------------------- report


def medians(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per target and scenario, the median over the rounds of each figure."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["errors"] > row.get("ok", 0):  # a server that died mid-run: not a figure
            continue
        grouped.setdefault((row["target"], row["scenario"]), []).append(row)
    out = {}
    for key, group in grouped.items():
        out[key] = {
            figure: round(statistics.median(r[figure] for r in group), 3)
            for figure in ("rps", "p50_ms", "p99_ms", "cpu_s_per_1k", "peak_rss_mb")
        }
        out[key]["errors"] = sum(r["errors"] for r in group)
        out[key]["rounds"] = len(group)
    return out


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "-"


def render(meta: dict[str, Any], figures: dict[tuple[str, str], dict[str, Any]],
           checks: dict[str, dict[str, Any]], variants: list[Variant],
           plan: list[Scenario], notes: list[str]) -> str:
    lines = [
        "# The stack's ceiling: servers and upstream clients for the bare pass-through",
        "",
        f"Command: `{meta['command']}`  ",
        f"Started {meta['started']}, finished {meta['finished']}; load average before "
        f"{meta['loadavg_before']}, after {meta['loadavg_after']}.  ",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['memory']}, Python "
        f"{meta['machine']['python']}.  ",
        "Candidates (bench/.venv-ceiling): "
        + ", ".join(f"{k} {v}" for k, v in meta["candidates"].items()) + ".  ",
        f"{meta['rounds']} rounds of {meta['requests']} requests (cap {meta['time_cap']} s) per "
        "target and scenario, the median kept; ratios against `today` (bench/bare_proxy.py) "
        "in the same run. CPU ratio below 1 and req/s ratio above 1 are better.",
        "",
    ]
    lines += [f"- {note}" for note in notes]
    lines += ["", "Streams / cancels the upstream on hang-up (bench/ceiling_check.py):", "",
              "| target | streams | first delta s / stream s | cancels on hang-up |",
              "|---|---|---|---|"]
    for variant in variants:
        result = checks.get(variant.name)
        if result is None:
            continue
        lines.append(
            f"| {variant.label} | {'yes' if result.get('streams') else 'NO'} | "
            f"{result.get('first_delta_s', '-')} / {result.get('total_s', '-')} | "
            f"{'yes' if result.get('cancels') else 'NO'} |"
        )
    for scenario in plan:
        base = figures.get((BASELINE, scenario.name), {})
        lines += ["", f"## {scenario.name}", "",
                  "| target | req/s | x today | p50 / p99 ms | CPU s / 1k req | x today | errors |",
                  "|---|---|---|---|---|---|---|"]
        for variant in variants:
            row = figures.get((variant.name, scenario.name))
            if row is None:
                continue
            lines.append(
                f"| {variant.label} | {row['rps']:,.0f} | {_ratio(row['rps'], base.get('rps'))} "
                f"| {row['p50_ms']:.2f} / {row['p99_ms']:.2f} | {row['cpu_s_per_1k']:.3f} | "
                f"{_ratio(row['cpu_s_per_1k'], base.get('cpu_s_per_1k'))} | {row['errors']} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--time-cap", type=float, default=3.0, help="seconds per run at most")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is kept")
    parser.add_argument("--targets", help="comma-separated target names (default: all)")
    parser.add_argument("--scenarios", help="comma-separated, e.g. small:1,stream:16")
    parser.add_argument("--no-checks", action="store_true", help="skip the stream/cancel checks")
    parser.add_argument("--out", type=Path, default=RESULTS / "ceiling.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = ".venv/bin/python bench/ceiling.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    wrk = wrk_path(install=True)
    if not wrk:
        raise SystemExit("wrk is needed (Debian package `wrk`)")
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="zdr-ceiling-") as folder:
        workdir = Path(folder)
        RESULTS.mkdir(parents=True, exist_ok=True)
        candidates = ensure_venv(RESULTS / "ceiling-install.log")
        wanted = set(args.targets.split(",")) if args.targets else None
        variants = [v for v in VARIANTS
                    if (not wanted or v.name in wanted or v.name in ("direct", BASELINE))]
        run = Run(args, workdir, wrk)
        for variant in [v for v in variants if v.needs]:
            missing = [p for p in variant.needs if candidates[p].startswith("not installed")]
            if missing:
                variants.remove(variant)
                run.notes.append(f"`{variant.name}` left out: {', '.join(missing)} "
                                 "did not install")
        plan = [Scenario(w, c) for w in ("small", "stream") for c in CONCURRENCIES
                if not args.scenarios or f"{w}:{c}" in args.scenarios.split(",")]
        load_before = load_average()
        if not args.no_checks:
            run_checks(run, variants)
        run_load(run, variants, plan)
    meta = {
        "command": command.strip(),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_before": load_before,
        "loadavg_after": load_average(),
        "machine": machine(),
        "candidates": candidates,
        "requests": args.requests,
        "time_cap": args.time_cap,
        "rounds": args.rounds,
    }
    figures = medians(run.rows)
    markdown = render(meta, figures, run.checks, variants, plan, run.notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "checks": run.checks, "rows": run.rows,
         "medians": [{"target": t, "scenario": s, **f} for (t, s), f in figures.items()],
         "notes": run.notes}, indent=1), encoding="utf-8")
    print(markdown)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
