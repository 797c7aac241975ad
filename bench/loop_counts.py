"""Load-independent counts of what one small exchange costs the gateway's event loop: the app
(`zdr.wiring.build_app`, the SQL store, the process classifier) driven over raw ASGI in this
process, one request at a time, against the stand-in upstream (`zdr stub-upstream`, its own
process).

    .venv/bin/python bench/loop_counts.py [--requests 2000] [--org zdr|standard] [--stream]

Per exchange: the event loop's callbacks (`call_soon`, `call_soon_threadsafe`, `call_later`),
futures and tasks created, ASGI `receive`/`send` calls (`--trace`: where each comes from), and
the CPU of the loop's thread (`time.thread_time`, which waiting does not count; best and median
of `--rounds`) and of the whole process (the store's writer thread included). With `--uvloop`
the loop is uvloop's, as `zdr serve` runs it, and nothing is counted but CPU. The uvicorn
protocol is not in it: what is measured is the app's own share. `--spy FILE` samples this
process with py-spy (`--gil`, raw format) meanwhile.

`--memory-upstream`: the stand-in's captured answer from memory (no sockets: the app's own CPU,
steadier on a busy machine). `--gap-ms 1` spaces the exchanges as a client at c=1 does (`--spin`
spends the gap on this core instead of sleeping); `--without classifier|background` leaves the
classifier hand-off (and the metadata write) out, to see what they cost by difference.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402
import zdr_target  # noqa: E402

COUNTS: collections.Counter[str] = collections.Counter()
WHERE: collections.Counter[str] = collections.Counter()
TRACE = False


def _where(kind: str) -> None:
    if not TRACE:
        return
    frame = sys._getframe(2)
    names = []
    while frame is not None and len(names) < 4:
        code = frame.f_code
        if "asyncio" not in code.co_filename:
            names.append(f"{Path(code.co_filename).name}:{frame.f_lineno}:{code.co_name}")
        frame = frame.f_back
    WHERE[kind + " <- " + " < ".join(names)] += 1


class CountingLoop(asyncio.SelectorEventLoop):
    """The standard loop, counting what is scheduled on it."""

    def call_soon(self, *args: Any, **kwargs: Any) -> Any:
        COUNTS["call_soon"] += 1
        _where("call_soon")
        return super().call_soon(*args, **kwargs)

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> Any:
        COUNTS["call_soon_threadsafe"] += 1
        _where("call_soon_threadsafe")
        return super().call_soon_threadsafe(*args, **kwargs)

    def call_later(self, *args: Any, **kwargs: Any) -> Any:
        COUNTS["call_later"] += 1
        _where("call_later")
        return super().call_later(*args, **kwargs)

    def call_at(self, *args: Any, **kwargs: Any) -> Any:
        COUNTS["call_at"] += 1
        _where("call_at")
        return super().call_at(*args, **kwargs)

    def create_future(self) -> Any:
        COUNTS["create_future"] += 1
        _where("create_future")
        return super().create_future()

    def create_task(self, *args: Any, **kwargs: Any) -> Any:
        COUNTS["create_task"] += 1
        _where("create_task")
        return super().create_task(*args, **kwargs)


def asgi_headers(key: str, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
            (b"anthropic-version", b"2023-06-01"), (b"x-api-key", key.encode()),
            (b"content-length", str(len(body)).encode())]


async def one(app: Any, key: str, body: bytes) -> int:
    """One exchange as uvicorn drives it: the body, then a disconnect once the response is
    complete (or never, while it is not)."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/v1/messages",
             "raw_path": b"/v1/messages", "query_string": b"", "root_path": "",
             "headers": asgi_headers(key, body), "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8080)}
    state = {"sent_body": False, "complete": False, "status": 0}
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        COUNTS["receive"] += 1
        if not state["sent_body"]:
            state["sent_body"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        if not state["complete"]:
            await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        COUNTS["send"] += 1
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
        elif not message.get("more_body", False):
            state["complete"] = True
            done.set()

    await app(scope, receive, send)
    return int(state["status"])


async def drive(args: argparse.Namespace, home: Path, stub_url: str, key: str) -> None:
    from budget import Lifespan

    from zdr.observability import LineWriter
    from zdr.settings import load_settings
    from zdr.wiring import build_app

    settings = load_settings(env={}, home=home, upstream_url=stub_url)
    sink = (home / "loop-counts.log").open("a", encoding="utf-8", buffering=1 << 20)
    upstream = None
    if args.memory_upstream:     # the stand-in's own answer, without sockets
        from budget import captured_replies

        from zdr.gateway.upstream_memory import CannedReply, MemoryUpstream

        reply, headers = captured_replies(stub_url)["stream" if args.stream else "small"]
        canned = CannedReply(200, headers, (reply,))
        upstream = MemoryUpstream(lambda request: canned)
    app = build_app(settings, log_writer=LineWriter([sink]), server_process=True,
                    upstream=upstream)
    lifespan = Lifespan(app)
    await lifespan.start()
    if args.without in ("classifier", "background"):    # what the hand-offs cost, by difference
        app.classify = False
    if args.without == "background":
        async def nothing(meta: Any) -> None:
            return None

        app.sink.record_metadata = nothing   # type: ignore[method-assign]
    body = compare.small_body(args.stream)
    try:
        for _ in range(args.warmup):
            assert await one(app, key, body) == 200
        await asyncio.sleep(0.5)
        spy = None
        if args.spy:
            import os
            import subprocess
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                    str(os.getpid()), "--rate", "500", "--format", "raw",
                                    "--gil", "--nonblocking", "--output", str(args.spy)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(2)
        COUNTS.clear()
        WHERE.clear()
        n = args.requests
        loop_us, process_us = [], []
        gap = args.gap_ms / 1000
        walls: list[float] = []
        for _ in range(args.rounds):
            thread0, process0 = time.thread_time(), time.process_time()
            for _ in range(n):
                started = time.perf_counter()
                await one(app, key, body)
                walls.append(time.perf_counter() - started)
                if args.spin:       # the gap spent on this core: its caches stay warm
                    spun = time.thread_time()
                    while time.thread_time() - spun < gap:
                        pass
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(gap)    # the loop's other work runs (a server yields)
            if upstream is not None:
                upstream.requests.clear()
            await asyncio.sleep(0.2)   # the writer's and the classifier's answers come back
            spent = gap * n if args.spin else 0.0
            loop_us.append((time.thread_time() - thread0 - spent) / n * 1e6)
            process_us.append((time.process_time() - process0 - spent) / n * 1e6)
        if spy is not None:
            import signal
            spy.send_signal(signal.SIGINT)
            spy.wait()
        total = n * args.rounds
        print(f"{args.rounds} x {n} exchanges ({args.org}, "
              f"{'stream' if args.stream else 'small'}), per exchange:")
        for name, count in sorted(COUNTS.items()):
            print(f"  {name:22} {count / total:8.2f}")
        print(f"  loop thread CPU us     min {min(loop_us):7.1f}  median "
              f"{sorted(loop_us)[len(loop_us) // 2]:7.1f}  "
              f"({' '.join(f'{v:.0f}' for v in loop_us)})")
        print(f"  process CPU us         min {min(process_us):7.1f}  median "
              f"{sorted(process_us)[len(process_us) // 2]:7.1f}")
        walls.sort()
        p50, p90, p99 = (walls[len(walls) * q // 100] * 1e6 for q in (50, 90, 99))
        print(f"  app call wall us       p50 {p50:7.1f}  p90 {p90:7.1f}  p99 {p99:7.1f}")
        for where, count in WHERE.most_common(40):
            print(f"  {count / total:6.2f} {where}")
    finally:
        await lifespan.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--org", choices=("zdr", "standard"), default="zdr")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--home", type=Path, help="a home made by an earlier run (kept)")
    parser.add_argument("--stub-port", type=int, default=0)
    parser.add_argument("--trace", action="store_true", help="where each count comes from")
    parser.add_argument("--uvloop", action="store_true",
                        help="run on uvloop, as `zdr serve` does (CPU only: nothing counted)")
    parser.add_argument("--memory-upstream", action="store_true",
                        help="the stand-in's answer from memory: no sockets, the app's own CPU")
    parser.add_argument("--gap-ms", type=float, default=0.0,
                        help="idle time after each exchange (the client's turn, as at c=1)")
    parser.add_argument("--spin", action="store_true",
                        help="spend the gap spinning on this core (not counted): warm caches")
    parser.add_argument("--without", choices=("classifier", "background"),
                        help="no classifier hand-off / nor the metadata write (not a gateway "
                             "that keeps its promises: only to see what they cost)")
    parser.add_argument("--spy", type=Path, help="py-spy this process into FILE (raw, --gil)")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace
    with tempfile.TemporaryDirectory(prefix="loop-counts-") as scratch:
        work = Path(scratch)
        home = args.home or work / "home"
        keys_file = home / "bench-keys.txt"
        if not keys_file.exists():
            home.mkdir(parents=True, exist_ok=True)
            keys = zdr_target.prepare_home(compare.PYTHON, home)
            keys_file.write_text(f"{keys['zdr-zdr']}\n{keys['zdr-standard']}\n")
        zdr_key, standard_key = keys_file.read_text().split()
        stub = None
        port = args.stub_port
        if not port:
            port = compare.free_port()
            stub = compare.start_server(
                "stub", zdr_target.stub_command(compare.PYTHON, port, compare.STREAM_CHUNKS),
                port, work, health="/healthz")
        try:
            if args.uvloop:
                import uvloop
                uvloop.run(drive(args, home, f"http://127.0.0.1:{port}",
                                 zdr_key if args.org == "zdr" else standard_key))
                return
            asyncio.run(drive(args, home, f"http://127.0.0.1:{port}",
                              zdr_key if args.org == "zdr" else standard_key),
                        loop_factory=CountingLoop) if sys.version_info >= (3, 12) else \
                _run_311(drive(args, home, f"http://127.0.0.1:{port}",
                               zdr_key if args.org == "zdr" else standard_key))
        finally:
            if stub is not None:
                stub.stop()


def _run_311(coro: Any) -> None:
    loop = CountingLoop()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(coro)
    finally:
        loop.close()


if __name__ == "__main__":
    main()
