"""CPU per exchange of `zdr serve`'s worker process and of its classifier child, separately,
under the same load, for one or more source trees run alternately.

    .venv/bin/python bench/classifier_split.py [--src OLD_TREE/src ...] [--rounds 3]
        [--requests 4000] [--concurrency 16] [--workload small|stream]

One stand-in upstream and one home (a ZDR org); per round and tree a fresh `zdr serve
--workers 1` (the tree's `src` first on PYTHONPATH; none given: this checkout), a warm-up, then
`--requests` under wrk. Figures are utime + stime from /proc of each process between the start of
the load and the classifier's queue and the store's writes being empty again (work deferred past
the load is its cost), in µs per request; with the worker's thread count and its voluntary
context switches per request. Prints one JSON line per run and a summary (medians) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402
import zdr_target  # noqa: E402
from proc_tree import descendants  # noqa: E402
from wrk_load import run_wrk, wrk_path  # noqa: E402

from zdr.testing.servers import free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _roles(root: int) -> tuple[int, list[int]]:
    """The serving process (the one listening: the deepest non-child of the tree) and the
    classifier's spawned children."""
    children, others = [], []
    for pid in descendants(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        (children if b"multiprocessing" in command else others).append(pid)
    return others[-1], children


def run_once(tree: Path | None, upstream: str, home: Path, key: str, args: argparse.Namespace,
             workdir: Path, wrk: str) -> dict[str, float]:
    env = {"ZDR_HOME": str(home)}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    port = free_port()
    server = compare.start_server(
        "zdr", zdr_target.serve_command(compare.PYTHON, port, upstream, 1), port, workdir, env=env)
    target = compare.Target("zdr-zdr", "", "zdr", api_key=key, base_url=server.base_url,
                            backlog_gauges=compare.ZDR_BACKLOG)
    try:
        body = compare.small_body(args.workload == "stream")
        url = server.base_url + "/v1/messages"
        run_wrk(wrk, url, body, target.headers(), args.concurrency, 500, 10)     # warm-up
        compare.drain(target)
        worker, children = _roles(server.pid)
        before = {pid: _cpu(pid) for pid in [worker, *children]}
        switches = _status(worker, "voluntary_ctxt_switches")
        result = run_wrk(wrk, url, body, target.headers(), args.concurrency, args.requests, 30)
        compare.drain(target)
        time.sleep(0.3)             # a batch in a child is not in the queue's depth
        done = result["ok"]
        per = 1e6 / done
        return {
            "worker_us": (_cpu(worker) - before[worker]) * per,
            "child_us": sum(_cpu(pid) - before[pid] for pid in children if pid in before) * per,
            "rps": result["rps"],
            "worker_threads": float(_status(worker, "Threads")),
            "worker_switches": (_status(worker, "voluntary_ctxt_switches") - switches) / done,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, action="append", default=[],
                        help="a tree's src folder (repeat; this checkout always runs too)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workload", choices=("small", "stream"), default="small")
    args = parser.parse_args()
    wrk = wrk_path()
    if wrk is None:
        raise SystemExit("wrk is needed")
    trees: list[Path | None] = [*args.src, None]
    runs: dict[str, list[dict[str, float]]] = {str(tree or "this checkout"): [] for tree in trees}
    with tempfile.TemporaryDirectory(prefix="zdr-split-") as folder:
        workdir = Path(folder)
        port = free_port()
        upstream = compare.start_server(
            "stub", zdr_target.stub_command(compare.PYTHON, port, compare.STREAM_CHUNKS), port,
            workdir)
        try:
            home = workdir / "home"
            key = zdr_target.prepare_home(compare.PYTHON, home)["zdr-zdr"]
            for _ in range(args.rounds):
                for tree in trees:
                    figures = run_once(tree, upstream.base_url, home, key, args, workdir, wrk)
                    name = str(tree or "this checkout")
                    runs[name].append(figures)
                    print(json.dumps({"tree": name, **figures}), flush=True)
                    time.sleep(1)
        finally:
            upstream.stop()
    for name, figures in runs.items():
        summary = {key: round(statistics.median(run[key] for run in figures), 2)
                   for key in figures[0]}
        print(json.dumps({"tree": name, "median": summary}))


if __name__ == "__main__":
    main()
