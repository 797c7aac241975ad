"""Where zdr-gateway spends its time under load: py-spy samples the `zdr serve` process tree while
wrk drives it, and the stacks are folded into the parts of the hot path (docs/DESIGN.md §4).

    .venv/bin/python bench/profile_gateway.py [--org zdr|standard]
        [--workload small|stream|conversation] [--seconds 20] [--concurrency 16] [--workers 1]

Writes bench/results/compare-profile-<org>-<workload>.md: the share of busy samples in each part
(a sample counts for every part on its stack, so shares overlap: `relay` contains the upstream
call), then the top functions by own time. py-spy leaves out idle threads, so 100 % is the busy
time of all threads (a thread blocked in fsync counts as busy: it is not idle in py-spy's eyes).
With `--gil` only the thread holding the GIL is sampled: Python CPU time, the budget all requests
of a worker share, and the view to optimise throughput from.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import zdr_target
from compare import MODEL, PYTHON, RESULTS, STREAM_CHUNKS, free_port, scenarios, start_server
from wrk_load import run_wrk, wrk_path

# Parts of the hot path: (name, pattern on "function (file:line)" frames, inclusive). An inclusive
# part counts a sample when any frame of its stack matches; the others only on the sampled frame
# itself (the server and the event loop sit under every stack, so only their own time says much).
PARTS: list[tuple[str, str, bool]] = [
    ("auth (key -> principal, cache)", r"zdr/gateway/auth\.py|zdr/store/directory\.py", True),
    ("body read + JSON parse", r"_read_body|\b_parse \(.*zdr/gateway/app\.py", True),
    ("facts (extract_facts)", r"zdr/policy/extract\.py|zdr/policy/facts\.py", True),
    ("decision (decide)", r"zdr/policy/(decide|rules|retention|decision)\.py", True),
    ("relay (zdr/gateway/relay.py, all of it)", r"zdr/gateway/relay\.py", True),
    ("  upstream client (aiohttp)", r"aiohttp/client|aiohttp/connector|aiohttp/streams", True),
    ("  SSE parse + observe", r"zdr/gateway/(sse|observe)\.py", True),
    ("  store hand-off awaited in the relay (content)", r"_retained \(.*relay\.py", True),
    ("_finish (all after-response work)", r"_finish \(.*zdr/gateway/app\.py", True),
    ("  request log line (structlog, LineWriter)", r"structlog|zdr/observability\.py", True),
    ("  metrics (prometheus)", r"prometheus_client", True),
    ("  safety submit / classifier", r"zdr/safety/|profanity_check|sklearn", True),
    ("store writer thread (batch, SQL, commit)", r"zdr/store/|sqlalchemy|sqlite3", True),
    ("  SQLite commit (WAL fsync)", r"do_commit", True),
    ("  content encryption", r"zdr/store/crypto\.py|cryptography/", True),
    ("ASGI server own time (uvicorn, httptools)", r"uvicorn/|httptools", False),
    ("event loop own time (uvloop: sockets, callbacks)", r"asyncio/runners\.py|uvloop", False),
]


def fold(raw: Path) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """(samples per part, own samples per function, total samples) from py-spy's raw output."""
    parts: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    compiled = [(name, re.compile(pattern), inclusive) for name, pattern, inclusive in PARTS]
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for name, pattern, inclusive in compiled:
            if any(pattern.search(frame) for frame in (frames if inclusive else frames[-1:])):
                parts[name] += count
        own[_short(frames[-1])] += count
    return parts, own, total


def _short(frame: str) -> str:
    """`function (path/to/site-packages/pkg/mod.py:12)` -> `function (pkg/mod.py:12)`."""
    return re.sub(r"\(.*?(site-packages/|src/|lib/python3\.\d+/)", "(", frame)


def render(
    args: argparse.Namespace,
    parts: collections.Counter[str],
    own: collections.Counter[str],
    total: int,
    load: dict[str, object],
) -> str:
    lines = [
        f"# Profile of zdr-gateway: {args.org} org, {args.workload} c={args.concurrency}",
        "",
        f"`{' '.join(['.venv/bin/python', 'bench/profile_gateway.py', *sys.argv[1:]])}` —"
        f" py-spy {args.rate} Hz over {args.seconds:.0f} s, {total} busy samples"
        f"{' of the thread holding the GIL' if args.gil else ''};"
        f" load while sampled: {load['rps']} req/s, p50 {load['p50_ms']} ms,"
        f" p99 {load['p99_ms']} ms; load average {os.getloadavg()[0]:.2f}",
        "",
        "| part of the hot path | share of busy samples |",
        "|---|---|",
    ]
    for name, _, _ in PARTS:
        lines.append(f"| {name} | {100 * parts[name] / max(1, total):.1f} % |")
    lines += ["", "Top functions by own time:", "", "| function | own share |", "|---|---|"]
    for frame, count in own.most_common(25):
        lines.append(f"| `{frame}` | {100 * count / max(1, total):.1f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--org", choices=("zdr", "standard"), default="zdr")
    parser.add_argument("--workload", choices=("small", "stream", "conversation"), default="small")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL (Python CPU, no I/O waits)",
    )
    args = parser.parse_args()
    pyspy = Path(PYTHON).parent / "py-spy"
    wrk = wrk_path(install=True)
    if not pyspy.exists() or wrk is None:
        sys.exit("needs py-spy in the virtualenv (pip install py-spy) and wrk")
    body = next(s.body for s in scenarios({args.workload}))
    with tempfile.TemporaryDirectory(prefix="zdr-profile-") as folder:
        work = Path(folder)
        up_port = free_port()
        upstream = start_server(
            "stand-in", zdr_target.stub_command(PYTHON, up_port, STREAM_CHUNKS), up_port, work
        )
        try:
            keys = zdr_target.prepare_home(PYTHON, work / "home")
            port = free_port()
            gateway = start_server(
                "zdr",
                zdr_target.serve_command(PYTHON, port, upstream.base_url, args.workers),
                port,
                work,
                env={"ZDR_HOME": str(work / "home")},
            )
            try:
                url = f"{gateway.base_url}/v1/messages"
                headers = {
                    "content-type": "application/json",
                    "anthropic-version": "2023-06-01",
                    "x-api-key": keys[f"zdr-{args.org}"],
                }
                run_wrk(wrk, url, body, headers, args.concurrency, 500, 5.0)  # warm-up
                raw = work / "profile.txt"
                spy = subprocess.Popen(
                    [
                        str(pyspy),
                        "record",
                        "--pid",
                        str(gateway.pid),
                        "--subprocesses",
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(round(args.seconds)),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--output",
                        str(raw),
                        *(["--gil"] if args.gil else []),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                load = run_wrk(wrk, url, body, headers, args.concurrency, 10**7, args.seconds - 1)
                spy.wait(timeout=args.seconds + 60)
            finally:
                gateway.stop()
        finally:
            upstream.stop()
        parts, own, total = fold(raw)
    text = render(args, parts, own, total, load)
    suffix = "-gil" if args.gil else ""
    out = RESULTS / f"compare-profile-{args.org}-{args.workload}{suffix}.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out}  (model {MODEL})")


if __name__ == "__main__":
    main()
