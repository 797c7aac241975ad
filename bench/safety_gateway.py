"""Gateway throughput with the safety classifier on vs. off, in the same run (goal: ≥ 80 %).

    .venv/bin/python bench/safety_gateway.py [--requests 4000] [--seconds 8] [--rounds 2]
        [--write bench/results/safety.md]

The gateway is built the way `zdr serve` builds it (`zdr.wiring.build_app` on a home made with
the `zdr` command line: the SQLite store, its directory and sink), served by uvicorn in this
process; "on" is the wiring's own safety pipeline (the default classifier in a spawned child
process, results written through the store's sink), "off" passes a `NullSafetyQueue` (no text
assembled, nothing submitted). A ZDR org's key sends the requests (the decision keeps a
classifier result but no content, so classification is the only extra work), from the gateway
benchmark's 2-process load generator over loopback to the stand-in upstream (a child process),
bounded by a request count and a time cap. Rounds alternate off/on; medians are compared, and the
gateway's CPU per request (this process plus the classifier's child) is reported beside them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from loadgen import LoadSpec, run_load  # noqa: E402
from zdr_target import prepare_home, stub_command  # noqa: E402

from safety import gateway_on_off_ratio  # noqa: E402
from zdr.testing.servers import UvicornThread, free_port, wait_port  # noqa: E402

SECTION = "## Gateway throughput with classification on vs. off"






def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def classifier_pids() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.pid is not None]


class GatewayLoad:
    """`load(classify) -> requests/s` for `gateway_on_off_ratio`; keeps each run's figures."""

    def __init__(self, home: Path, upstream: str, key: str, *, stream: bool, requests: int,
                 seconds: float, concurrency: int) -> None:
        self.home, self.upstream, self.key, self.stream = home, upstream, key, stream
        self.requests, self.seconds, self.concurrency = requests, seconds, concurrency
        self.runs: list[dict[str, Any]] = []

    def __call__(self, classify: bool) -> float:
        from zdr.inmemory import NullSafetyQueue
        from zdr.observability import file_and_stderr_writer
        from zdr.settings import load_settings
        from zdr.wiring import SafetyPort, build_app

        settings = load_settings(env={}, home=self.home, upstream_url=self.upstream)
        app = build_app(settings, use_store=True, safety=None if classify else NullSafetyQueue(),
                        log_writer=file_and_stderr_writer(settings.log_file, stderr=False))
        assert isinstance(app.safety, SafetyPort) == classify
        server = UvicornThread(app)
        server.start()
        try:
            deadline = time.monotonic() + 60      # the classifier's child takes seconds
            while not app.ready and time.monotonic() < deadline:
                time.sleep(0.05)
            assert app.ready, "the gateway did not start"
            body = orjson.dumps({"model": "claude-sonnet-5", "max_tokens": 256,
                                 "stream": self.stream, "messages": [
                                     {"role": "user", "content": "Say something short."}]})
            headers = {"content-type": "application/json", "x-api-key": self.key,
                       "anthropic-version": "2023-06-01"}
            url = server.url + "/v1/messages"
            run_load(LoadSpec(url, body, headers, 8, 300, 3.0, 2))      # warm-up
            pids = [os.getpid(), *classifier_pids()]
            before = {pid: cpu_seconds(pid) for pid in pids}
            result = run_load(LoadSpec(url, body, headers, self.concurrency, self.requests,
                                       self.seconds, 2))
            drained = time.monotonic()
            pipeline = app.safety.pipeline if classify else None    # type: ignore[attr-defined]
            while pipeline is not None and pipeline.pending and time.monotonic() < drained + 30:
                time.sleep(0.01)       # count the classifier's CPU for every exchange of the run
            drain = time.monotonic() - drained
            used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
        finally:
            server.close()
        ok = max(result.ok, 1)
        rps = result.ok / result.elapsed
        self.runs.append({
            "classify": classify, "rps": rps, "ok": result.ok, "errors": result.errors,
            "capped": result.capped, "drain_s": drain,
            "gateway_us": used[os.getpid()] / ok * 1e6,
            "classifier_us": sum(v for p, v in used.items() if p != os.getpid()) / ok * 1e6,
        })
        print(f"  classify={'on ' if classify else 'off'} {rps:8.0f} req/s  ok={result.ok} "
              f"errors={result.errors} capped={result.capped}  gateway "
              f"{self.runs[-1]['gateway_us']:.0f} µs/req, classifier child "
              f"{self.runs[-1]['classifier_us']:.0f} µs/req, queue drained "
              f"{drain:.2f} s after the load", flush=True)
        return rps


def classifier_rows(home: Path) -> tuple[int, int]:
    """(classifier results, of which sampled out) stored in the home's SQLite file."""
    import sqlite3

    with sqlite3.connect(home / "zdr.sqlite3") as db:
        total, sampled = db.execute(
            "SELECT count(*), coalesce(sum(sampled_out), 0) FROM classifier_results").fetchone()
    return int(total), int(sampled)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000, help="requests per measurement")
    parser.add_argument("--seconds", type=float, default=8.0, help="time cap per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", type=Path, help="put the section into this markdown file")
    args = parser.parse_args()
    python = sys.executable
    rows = []
    with tempfile.TemporaryDirectory(prefix="zdr-bench-safety-") as tmp:
        home = Path(tmp) / "home"
        keys = prepare_home(python, home)
        port = free_port()
        stub = subprocess.Popen(stub_command(python, port, 4), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            for stream in (False, True):
                print(f"{'stream' if stream else 'JSON'}, ZDR org, {args.concurrency} "
                      f"connections, ≤ {args.requests} requests / ≤ {args.seconds:.0f} s:",
                      flush=True)
                load = GatewayLoad(home, f"http://127.0.0.1:{port}", keys["zdr-zdr"],
                                   stream=stream, requests=args.requests, seconds=args.seconds,
                                   concurrency=args.concurrency)
                figures = gateway_on_off_ratio(load, rounds=args.rounds)
                print(f"  ratio on/off (medians): {figures['ratio']:.2f}", flush=True)
                rows.append((stream, figures, load.runs))
            results, sampled = classifier_rows(home)
        finally:
            stub.terminate()
            stub.wait(timeout=15)
    print(f"classifier results stored: {results} (sampled out: {sampled})")
    if args.write:
        write_section(args.write, render(rows, results, sampled, args))
        print(f"wrote {args.write}")


def render(rows: list[tuple[bool, dict[str, Any], list[dict[str, Any]]]], results: int,
           sampled: int, args: argparse.Namespace) -> str:
    def median(runs: list[dict[str, Any]], on: bool, key: str) -> float:
        values = sorted(r[key] for r in runs if r["classify"] is on)
        return values[len(values) // 2] if len(values) % 2 else \
            (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2

    lines = []
    for stream, figures, runs in rows:
        off_runs = ", ".join(f"{v:,.0f}" for v in figures["off_runs"])
        on_runs = ", ".join(f"{v:,.0f}" for v in figures["on_runs"])
        lines.append(
            f"| {'SSE stream' if stream else 'JSON'} | {off_runs} | {on_runs} | "
            f"**{figures['ratio'] * 100:.0f} %** | {median(runs, False, 'gateway_us'):.0f} | "
            f"{median(runs, True, 'gateway_us'):.0f} + {median(runs, True, 'classifier_us'):.0f} |")
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    command = (f".venv/bin/python bench/safety_gateway.py --requests {args.requests} --seconds "
               f"{args.seconds:g} --rounds {args.rounds} --concurrency {args.concurrency} "
               f"--write bench/results/safety.md")
    return f"""{SECTION}

Command: `{command}`
Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, both cores
shared by the gateway (uvicorn, one process), the classifier's child process, the stand-in
upstream and the 2-process load generator; load average when written {load} (1 / 5 / 15 min).

The gateway as `zdr serve` wires it (SQLite store, its directory and sink; `zdr.wiring.build_app`
on a home made with the `zdr` command line), a ZDR org's key, {args.concurrency} keep-alive
connections, at most {args.requests} requests or {args.seconds:g} s per run, after a warm-up.
"off": `NullSafetyQueue` (no text assembled, nothing submitted). "on": the wiring's own pipeline
(default classifier in a spawned child process, a classifier result row per exchange through
the store's sink). Rounds alternate off/on; the ratio compares medians. CPU per request: the
gateway's process (all its threads), and with classification on "+" the classifier's child.

| mix | off: req/s per round | on: req/s per round | on / off | µs CPU/req off | µs CPU/req on |
|---|---|---|---|---|---|
{chr(10).join(lines)}

Classifier results stored over the whole run (warm-ups included): {results:,}, of which sampled
out (queue full): {sampled:,}.
"""


def write_section(path: Path, section: str) -> None:
    """Replace the gateway section of `path` (or append it), leaving the rest as it is."""
    text = path.read_text("utf-8") if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n", "utf-8")


if __name__ == "__main__":
    main()   # the guard matters: the classifier's child process is spawned
