"""Instructions per request of the bare pass-through's variants (bench/ceiling.py), counted by
valgrind's callgrind: a figure other work on the machine does not move, unlike CPU seconds.

    .venv/bin/python bench/ceiling_instructions.py
    .venv/bin/python bench/ceiling_instructions.py \
        --targets zdr-bounded+httptools,zdr-own+httptools --requests 1000

Each variant's proxy runs under `valgrind --tool=callgrind --instr-atstart=no` against the
stand-in (not instrumented); after a warm-up of every scenario, counting is switched on, and per
scenario the counters are zeroed, wrk sends `--requests` requests, and the counters are dumped:
instructions (Ir) of the proxy's process per completed request. Writes
bench/results/ceiling-instructions.md. Loopback only.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zdr_target
from ceiling import BASELINE, HEADERS, PYTHON, RESULTS, STREAM_CHUNKS, VARIANTS, Scenario
from compare import start_server
from wrk_load import run_wrk, wrk_path

from zdr.testing.servers import free_port

DEFAULT_TARGETS = ("uvicorn+httptools", "own-asgi+httptools", "own-direct+httptools",
                   "zdr-bounded+httptools", "zdr-own+httptools")


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def latest_total(folder: Path, before: set[Path]) -> int:
    """The Ir total of the dump callgrind wrote since `before` was listed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = sorted(set(folder.glob("cg.out*")) - before, key=lambda p: p.stat().st_mtime)
        for dump in new:
            text = dump.read_text(errors="replace")
            found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
            if found:
                return int(found.group(1))
        time.sleep(0.2)
    raise RuntimeError("callgrind wrote no dump")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--scenarios", default="small:1,small:16,stream:1,stream:16")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS / "ceiling-instructions.md")
    args = parser.parse_args()
    wrk = wrk_path(install=True)
    if not wrk:
        raise SystemExit("wrk is needed (Debian package `wrk`)")
    wanted = args.targets.split(",")
    variants = [v for v in VARIANTS if v.name in wanted and v.name not in ("direct", BASELINE)]
    plan = [Scenario(w, int(c)) for w, c in (s.split(":") for s in args.scenarios.split(","))]
    figures: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="zdr-ceiling-ir-") as name:
        workdir = Path(name)
        port = free_port()
        stub = start_server("stand-in", zdr_target.stub_command(PYTHON, port, STREAM_CHUNKS),
                            port, workdir)
        try:
            for variant in variants:
                folder = workdir / variant.name.replace("/", "-").replace("+", "-")
                folder.mkdir()
                proxy_port = free_port()
                command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                           f"--callgrind-out-file={folder}/cg.out",
                           *variant.command(proxy_port, stub.base_url)]
                server = start_server(folder.name, command, proxy_port, folder, wait=240)
                try:
                    url = server.base_url + "/v1/messages"
                    for scenario in plan:                     # warm-up, not counted
                        run_wrk(wrk, url, scenario.body, HEADERS, scenario.concurrency, 200, 60,
                                1)
                    control("-i", "on", str(server.pid))
                    for scenario in plan:
                        control("-z", str(server.pid))
                        row = run_wrk(wrk, url, scenario.body, HEADERS, scenario.concurrency,
                                      args.requests, 120, 1)
                        before = set(folder.glob("cg.out*"))
                        control("-d", str(server.pid))
                        total = latest_total(folder, before)
                        done = max(1, row["ok"])
                        figures[(variant.name, scenario.name)] = total / done
                        print(f"{variant.name:27} {scenario.name:12} {total / done / 1000:8.1f}"
                              f" k instructions/request ({done} requests, {row['errors']} errors)",
                              flush=True)
                finally:
                    server.stop()
        finally:
            stub.stop()
    base = next(iter(variants)).name
    lines = ["# Instructions per request of the pass-through (callgrind)", "",
             "Command: `.venv/bin/python bench/ceiling_instructions.py "
             + shlex.join(sys.argv[1:]) + "`  ",
             f"{args.requests} requests per scenario after a warm-up; the proxy's process only "
             f"(the stand-in and wrk are not counted). Ratios against `{base}`.", "",
             "| target | " + " | ".join(s.name for s in plan) + " |",
             "|---|" + "---|" * len(plan)]
    for variant in variants:
        cells = []
        for scenario in plan:
            value = figures.get((variant.name, scenario.name))
            reference = figures.get((base, scenario.name))
            cells.append("-" if value is None else
                         f"{value / 1000:,.0f} k ({value / reference:.2f})" if reference
                         else f"{value / 1000:,.0f} k")
        lines.append(f"| {variant.label} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    print(markdown)


if __name__ == "__main__":
    main()
