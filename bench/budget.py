"""The gateway's CPU budget per exchange, stage by stage, against a bare pass-through's whole cost.

    .venv/bin/python bench/budget.py [--requests 3000] [--concurrency 16] [--no-live]
        [--no-profile] [--write bench/results/budget.md]

Two views of the same budget, both against the stand-in upstream (`zdr stub-upstream`, its own
process; 20 SSE deltas per stream) and a fresh home with a ZDR org and a standard org:

1. **In-process** (`inproc` column): the real code paths of each stage driven many times in this
   process, with realistic inputs (the benchmark's request bodies and headers, the stand-in's own
   replies as captured over HTTP, a principal from the home's SQL directory). Stages on the event
   loop are timed with `time.thread_time` (this thread only); the background stages (the store's
   writer thread, the classifier's worker thread and child process) with the CPU of this
   process's whole tree (utime + stime from /proc, children included) minus the loop thread's,
   between handing N exchanges over and the queues being empty again.
2. **Live** (`live` column): `zdr serve` under wrk at `--concurrency`, its whole process tree's
   CPU per request from /proc (utime + stime, the store's and the classifier's backlog drained
   and counted), next to `bench/bare_proxy.py` measured the same way in the same run; then py-spy
   samples the tree (`--subprocesses`, not idle) and each stage gets its share of the samples times
   the measured CPU per request. What matches no stage is the stack both share (uvicorn, uvloop,
   aiohttp's client) plus what the gateway adds to it (more headers, a second task per request).

Writes the tables (and the exact command) to `--write`; prints them. The figure to read is the
gateway's CPU per exchange above the bare pass-through's, and which stages make it up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402
import proc_tree  # noqa: E402
import zdr_target  # noqa: E402
from wrk_load import run_wrk, wrk_path  # noqa: E402

PYTHON = sys.executable
ORGS = ("zdr", "standard")
WORKLOADS = ("small", "stream")

# Stages, in the order an exchange meets them. Each has a py-spy pattern (on any frame of a
# sample's stack; the first stage that matches takes the sample) for the live profile.
STAGES: list[tuple[str, str]] = [
    ("routing, header limits, headers", r"zdr/gateway/(paths|routes|header_limits)\.py|"
                                        r"server_protocol\.py"),
    ("auth (key hash + principal cache)", r"zdr/gateway/auth\.py|zdr/store/directory\.py|"
                                          r"zdr/keys\.py"),
    ("body read + JSON parse", r"_read_body|zdr/gateway/body\.py|\b_parse \("),
    ("facts", r"zdr/policy/(extract|facts)\.py|session_bodies\.py"),
    ("decide (+ pseudonyms, end user, view)", r"zdr/policy/|zdr/gateway/(pseudonyms|end_users|"
                                              r"classify|recorders)\.py"),
    ("relay bookkeeping (headers, exchange record)", r"zdr/gateway/(relay|upstream|responses|"
                                                     r"exchange|client|app)\.py"),
    ("SSE / response observation", r"zdr/gateway/(sse|observe)\.py"),
    ("access log line", r"structlog|zdr/observability\.py.*(info|_render|_stamped|_allow|msg|"
                        r"stamp)|LineWriter|TextIOWrapper"),
    ("metrics", r"prometheus_client|observe \(.*observability\.py"),
    ("tracing (off)", r"zdr/tracing\.py|opentelemetry"),
    ("classifier hand-off (event loop)", r"submit \(.*zdr/(safety|wiring)|zdr/gateway/texts\.py|"
                                         r"_flush \(.*pipeline\.py|"
                                         r"zdr/safety/(loop_children|outcomes|handoff)\.py"),
    ("classifier scoring (worker thread, child)", r"zdr/safety/|multiprocessing|pickle"),
    ("store write (hand-off, writer thread, commit)", r"zdr/store/|sqlalchemy|sqlite3|"
                                                      r"cryptography/"),
    # the stack a bare pass-through has too
    ("shared: aiohttp client", r"aiohttp/|yarl/|multidict/"),
    ("shared: ASGI server (uvicorn, httptools)", r"uvicorn/|httptools"),
    ("shared: event loop (uvloop, asyncio)", r"uvloop|asyncio/"),
]
OTHER = "other (threads' start-up, the garbage collector, unnamed frames)"


# ---------------------------------------------------------------- timing helpers


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that completes without suspending (a cache hit, a ready body)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended: not a synchronous stage")


def per_call(fn: Callable[[], Any], calls: int, rounds: int = 5) -> float:
    """Best-of-`rounds` CPU µs of this thread per call of `fn` (a busy machine can only slow a
    round down)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.thread_time() - started) / calls)
    return best * 1e6


def tree_cpu() -> float:
    return proc_tree.cpu_seconds(os.getpid())


# ---------------------------------------------------------------- realistic inputs


def captured_replies(stub_url: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    """The stand-in's answer (body, headers) to the small and the streamed request."""
    replies = {}
    for workload in WORKLOADS:
        request = urllib.request.Request(
            stub_url + "/v1/messages", data=compare.small_body(workload == "stream"),
            headers={"content-type": "application/json", "anthropic-version": "2023-06-01",
                     "x-api-key": "sk-ant-bench-direct"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            replies[workload] = (response.read(), dict(response.headers.items()))
    return replies


def asgi_headers(key: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """The request head wrk sends, as the ASGI server hands it over."""
    return [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
            (b"anthropic-version", b"2023-06-01"), (b"x-api-key", key.encode()),
            (b"content-length", str(len(body)).encode())]


# ---------------------------------------------------------------- in-process stages


class Lifespan:
    """Runs the app's ASGI lifespan: start-up (store, classifier child) and shutdown."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.app({"type": "lifespan"}, self.inbox.get,
                                                 self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the gateway did not start: {answer}")

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        assert self.task is not None
        await self.task


async def inproc_budget(home: Path, stub_url: str, keys: dict[str, str], exchanges: int,
                        calls: int) -> dict[tuple[str, str], dict[str, float]]:
    """µs per exchange of each stage, per (org, workload), driven in this process."""
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    from zdr.gateway import app as app_module
    from zdr.gateway import upstream
    from zdr.gateway.auth import presented_key
    from zdr.gateway.classify import view_for
    from zdr.gateway.exchange import Exchange
    from zdr.gateway.observe import MessageObserver
    from zdr.gateway.paths import request_target
    from zdr.gateway.recorders import recorder_for
    from zdr.gateway.responses import base_headers, new_request_id
    from zdr.observability import LineWriter
    from zdr.policy import decide, extract_facts
    from zdr.ports import RetainedContent
    from zdr.settings import load_settings
    from zdr.wiring import build_app

    replies = captured_replies(stub_url)
    settings = load_settings(env={}, home=home, upstream_url=stub_url)
    log_dir = home / "budget-logs"
    log_dir.mkdir(exist_ok=True)
    streams: list[Any] = [(log_dir / name).open("a", encoding="utf-8", buffering=1 << 20)
                          for name in ("gateway.log", "stderr.log")]   # as `zdr serve` writes
    app = build_app(settings, log_writer=LineWriter(streams))
    lifespan = Lifespan(app)
    await lifespan.start()
    results: dict[tuple[str, str], dict[str, float]] = {}
    try:
        for org in ORGS:
            key = keys[f"zdr-{org}"]
            for workload in WORKLOADS:
                body = compare.small_body(workload == "stream")
                reply, reply_headers = replies[workload]
                scope = {"type": "http", "method": "POST", "path": "/v1/messages",
                         "raw_path": b"/v1/messages", "query_string": b"",
                         "headers": asgi_headers(key, body)}
                stage: dict[str, float] = {}

                def routing(scope: dict[str, Any] = scope) -> dict[str, str]:
                    app.header_limits.exceeded(scope["headers"])
                    target = request_target(scope)
                    app.router.match(target.path)
                    return {k.decode("latin-1"): v.decode("latin-1")
                            for k, v in scope["headers"]}

                headers = routing()
                stage["routing, header limits, headers"] = per_call(routing, calls)

                def auth(headers: dict[str, str] = headers) -> Any:
                    presented = presented_key(headers.get("x-api-key"),
                                              headers.get("authorization"))
                    assert presented is not None
                    return run_now(app.principals.principal(presented))

                principal = await app.principals.principal(key)
                assert principal is not None, "the benchmark key is not known to the store"
                stage["auth (key hash + principal cache)"] = per_call(auth, calls)

                async def receive(body: bytes = body) -> dict[str, Any]:
                    return {"type": "http.request", "body": body, "more_body": False}

                matched = app.router.match("/v1/messages")
                assert matched is not None
                route = matched.route

                def read(headers: dict[str, str] = headers, route: Any = route) -> Any:
                    data = run_now(app._read_body(headers, receive))
                    return app_module._parse(data, route, "POST")

                parsed = read()
                stage["body read + JSON parse"] = per_call(read, calls)
                kind = principal.arrangements.key_kind

                def facts(headers: dict[str, str] = headers, parsed: Any = parsed,
                          kind: Any = kind) -> Any:
                    return extract_facts("POST", "/v1/messages", headers, parsed, kind,
                                         app.catalog)

                fact_set = facts()
                stage["facts"] = per_call(facts, calls)

                def decision_stage(fact_set: Any = fact_set, parsed: Any = parsed,
                                   headers: dict[str, str] = headers, body: bytes = body,
                                   route: Any = route, principal: Any = principal) -> Any:
                    now = app.clock.now()
                    decision = decide(fact_set, principal.arrangements, app.catalog, now)
                    ex = Exchange("", principal, decision, now, recorded=app.pseudonyms.recorded(
                        decision, principal.arrangements, now, principal.org_id))
                    ex.end_user = app.end_users.of(parsed)
                    view = view_for(decision, route, "POST", headers, body, parsed)
                    recorder = recorder_for(decision, app.sink)
                    return ex, view, recorder, MessageObserver(assemble=True)

                stage["decide (+ pseudonyms, end user, view)"] = per_call(decision_stage, calls)
                proxy = CIMultiDictProxy(CIMultiDict(reply_headers))

                def relay_bookkeeping(headers: dict[str, str] = headers, parsed: Any = parsed,
                                      proxy: Any = proxy) -> Any:
                    ex, _, _, _ = decision_stage()
                    upstream.request_headers(headers, "stand-in-upstream-key",
                                             forward_knobs=True)
                    URL(stub_url + "/v1/messages", encoded=True)
                    ex.request_id = proxy.get("request-id") or new_request_id()
                    common = base_headers(ex.request_id, ex.decision.retention_label)
                    common.extend(upstream.response_headers(proxy))
                    ex.stream = bool(parsed and parsed.get("stream") is True)
                    ex.status = 200
                    ex.mark_first_byte()
                    return ex.metadata()

                stage["relay bookkeeping (headers, exchange record)"] = max(
                    0.0, per_call(relay_bookkeeping, calls)
                    - stage["decide (+ pseudonyms, end user, view)"])

                chunks = [part + b"\n\n" for part in reply.split(b"\n\n") if part]
                # both orgs keep a classifier result (standard keeps content too): text assembled
                def observe(reply: bytes = reply, chunks: list[bytes] = chunks,
                            workload: str = workload) -> MessageObserver:
                    observer = MessageObserver(assemble=True)
                    if workload == "stream":
                        for chunk in chunks:
                            observer.feed(chunk)
                    else:
                        observer.message(reply)
                    _ = observer.output_text        # the classifier's text, read once
                    return observer

                stage["SSE / response observation"] = per_call(observe, calls)
                ex = decision_stage()[0]
                ex.request_id, ex.status = new_request_id(), 200
                ex.mark_first_byte()
                meta = ex.metadata()
                decision = ex.decision

                def access_line(ex: Any = ex, meta: Any = meta, decision: Any = decision) -> None:
                    app.access.info(
                        "exchange", request_id=meta.exchange_id, org_id=meta.org_id,
                        workspace_id=meta.workspace_id, key_prefix=ex.principal.key_prefix,
                        surface=decision.surface, status=ex.status, outcome=ex.outcome,
                        retention=decision.retention_label, zdr=decision.zdr,
                        model_class=decision.model_class, stream=ex.stream,
                        input_tokens=meta.input_tokens, output_tokens=meta.output_tokens,
                        duration_ms=meta.duration_ms, ttfb_ms=meta.ttfb_ms)

                stage["access log line"] = per_call(access_line, calls)

                def metrics(decision: Any = decision) -> None:
                    app.metrics.observe(decision.surface, "ok", decision.retention_label, 200,
                                        0.0042, 0.0031)

                stage["metrics"] = per_call(metrics, calls)

                def tracing(ex: Any = ex, meta: Any = meta) -> None:
                    if app.tracer is not None:
                        app.tracer.record(ex, meta)

                stage["tracing (off)"] = per_call(tracing, calls)
                for _ in range(1 if results else 2):   # the first: warms the classifier child
                    store, classifier = await background_stages(
                        app, exchanges, decision_stage, observe, body, reply, RetainedContent)
                stage.update(store)
                stage.update(classifier)
                results[(org, workload)] = stage
    finally:
        await lifespan.stop()
        for stream in streams:
            stream.close()
    return results


async def background_stages(
    app: Any,
    exchanges: int,
    decision_stage: Callable[[], Any],
    observe: Callable[[], Any],
    body: bytes,
    reply: bytes,
    retained: Any,
) -> tuple[dict[str, float], dict[str, float]]:
    """The store write and the classifier, each: its cost on the event loop (thread time of the
    calls that hand an exchange over) and in the background (tree CPU minus the loop's), per
    exchange, `exchanges` of them 16 at a time as under load."""
    from zdr.gateway.responses import new_request_id

    pipeline = getattr(app.safety, "pipeline", app.safety)
    finished: list[tuple[Any, Any, Any]] = []
    await app.sink.flush()
    tree0, loop0 = tree_cpu(), time.thread_time()
    handoff = 0.0
    for first in range(0, exchanges, 16):
        batch = []
        for _ in range(min(16, exchanges - first)):
            ex, view, recorder, _ = decision_stage()
            ex.request_id, ex.status = new_request_id(), 200
            ex.mark_first_byte()
            batch.append((ex, view, recorder))
        started = time.thread_time()

        async def write(ex: Any, recorder: Any) -> None:
            if hasattr(recorder, "retain"):     # a retaining org: durable before the last byte
                await recorder.retain(ex.metadata(), retained(body, reply))
            await recorder.finish(ex.metadata())

        await asyncio.gather(*(write(ex, recorder) for ex, _, recorder in batch))
        handoff += time.thread_time() - started
        finished.extend(batch)
    await app.sink.flush()
    tree1, loop1 = tree_cpu(), time.thread_time()
    store = {"store write: on the event loop": handoff / exchanges * 1e6,
             "store write: writer thread": max(0.0, (tree1 - tree0) - (loop1 - loop0))
             / exchanges * 1e6}
    done0 = pipeline.completed
    tree0, loop0 = tree_cpu(), time.thread_time()
    handoff = 0.0
    observers = [observe() for _ in finished]      # built by the relay: not the hand-off's
    for first in range(0, len(finished), 16):
        started = time.thread_time()
        for (ex, view, _), observer in zip(finished[first:first + 16], observers[first:first + 16],
                                           strict=True):
            await view.submit(app.safety, ex.metadata(), observer)
        await asyncio.sleep(0)      # the pipeline's per-iteration flush to its workers
        handoff += time.thread_time() - started
    deadline = time.monotonic() + 120
    while pipeline.completed - done0 < len(finished) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    await app.sink.flush()
    tree1, loop1 = tree_cpu(), time.thread_time()
    classifier = {
        "classifier hand-off (event loop)": handoff / exchanges * 1e6,
        "classifier scoring (worker thread, child, result row)":
            max(0.0, (tree1 - tree0) - (loop1 - loop0)) / exchanges * 1e6,
    }
    return store, classifier


# ---------------------------------------------------------------- live: zdr serve under load


def live_budget(work: Path, home: Path, keys: dict[str, str], upstream: compare.Server,
                args: argparse.Namespace) -> dict[str, Any]:
    """CPU µs per request of the bare pass-through and `zdr serve` (each org, each workload), and
    py-spy's split of the gateway's into stages."""
    wrk = wrk_path(install=True)
    if wrk is None:
        raise SystemExit("needs wrk (apt-get install wrk)")
    bench_args = argparse.Namespace(requests=args.requests, time_cap=args.time_cap, quick=True,
                                    workers=1)
    bench = compare.Bench(bench_args, work, wrk, upstream)
    bare, _ = bench.start_bare()
    port = compare.free_port()
    gateway = compare.start_server(
        "zdr", zdr_target.serve_command(PYTHON, port, upstream.base_url, 1), port, work,
        env={"ZDR_HOME": str(home)})
    out: dict[str, Any] = {"cpu_us": {}, "rps": {}, "profile": {}, "system_share": {}}
    try:
        targets = {t.name: t for t in compare.target_list()}
        targets["bare"].base_url, targets["bare"].monitor_pid = bare.base_url, bare.pid
        for name in ("zdr-zdr", "zdr-standard"):
            targets[name].base_url, targets[name].monitor_pid = gateway.base_url, gateway.pid
            targets[name].api_key = keys[name]
        for workload in WORKLOADS:
            scenario = compare.Scenario(workload, args.concurrency,
                                        compare.small_body(workload == "stream"))
            for name in ("bare", "zdr-zdr", "zdr-standard"):
                before = user_system(targets[name].monitor_pid)
                row = compare.measure(bench, targets[name], scenario)
                after = user_system(targets[name].monitor_pid)
                out["cpu_us"][(name, workload)] = row["cpu_s_per_1k"] * 1000
                out["rps"][(name, workload)] = row["rps"]
                spent = [b - a for a, b in zip(before, after, strict=True)]
                out["system_share"][(name, workload)] = spent[1] / max(sum(spent), 1e-9)
        if args.profile:
            for org in ORGS:
                for workload in WORKLOADS:
                    out["profile"][(org, workload)] = profile(
                        wrk, gateway, targets[f"zdr-{org}"], workload, args)
    finally:
        gateway.stop()
        bare.stop()
    return out


def user_system(root: int) -> tuple[float, float]:
    """User and system CPU seconds of a process tree (exited children included)."""
    user = system = 0
    for pid in proc_tree.descendants(root):
        fields = proc_tree._stat_fields(pid)
        if fields:
            user += int(fields[11]) + int(fields[13])
            system += int(fields[12]) + int(fields[14])
    return user / proc_tree.TICKS, system / proc_tree.TICKS


def profile(wrk: str, gateway: compare.Server, target: compare.Target, workload: str,
            args: argparse.Namespace) -> dict[str, float]:
    """Shares of py-spy's samples of the whole tree (busy threads only) per stage."""
    pyspy = Path(PYTHON).parent / "py-spy"
    if not pyspy.exists():
        raise SystemExit("needs py-spy in the virtualenv (a dev dependency)")
    raw = Path(tempfile.mkstemp(prefix="zdr-budget-", suffix=".txt")[1])
    seconds = max(4, round(args.profile_seconds))
    spy = subprocess.Popen(
        [str(pyspy), "record", "--pid", str(gateway.pid), "--subprocesses", "--rate", "250",
         "--duration", str(seconds), "--format", "raw", "--nonblocking", "--gil",
         "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    url = target.base_url + target.path
    run_wrk(wrk, url, compare.small_body(workload == "stream"), target.headers(),
            args.concurrency, 10**7, seconds - 1, 2)
    spy.wait(timeout=seconds + 60)
    compare.drain(target)
    shares = fold(raw)
    raw.unlink()
    return shares


def fold(raw: Path) -> dict[str, float]:
    compiled = [(name, re.compile(pattern)) for name, pattern in STAGES]
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        counts[_stage_of(stack.split(";"), compiled)] += count
    return {name: count / max(1, total) for name, count in counts.items()}


def _stage_of(frames: list[str], compiled: list[tuple[str, re.Pattern[str]]]) -> str:
    """The stage of the innermost frame that names one (py-spy lists the root first): time in
    aiohttp called from the relay is aiohttp's, time in the relay's own lines is the relay's."""
    for frame in reversed(frames):
        for name, pattern in compiled:
            if pattern.search(frame):
                return name
    return OTHER


# ---------------------------------------------------------------- report

LIVE_NAME = {   # in-process stages measured in parts, and the live stage they belong to
    "store write: on the event loop": "store write (hand-off, writer thread, commit)",
    "store write: writer thread": "store write (hand-off, writer thread, commit)",
    "classifier scoring (worker thread, child, result row)":
        "classifier scoring (worker thread, child)",
}


def render(args: argparse.Namespace, inproc: dict[tuple[str, str], dict[str, float]],
           live: dict[str, Any] | None) -> str:
    command = " ".join([".venv/bin/python", "bench/budget.py", *sys.argv[1:]])
    lines = [f"# CPU budget per exchange, stage by stage (c={args.concurrency})", "",
             f"`{command}` — load average {proc_tree.load_average()}", ""]
    for org in ORGS:
        for workload in WORKLOADS:
            measured = inproc.get((org, workload), {})
            stages: dict[str, float] = {}
            parts: dict[str, list[str]] = {}
            for name, value in measured.items():
                merged = LIVE_NAME.get(name, name)
                stages[merged] = stages.get(merged, 0.0) + value
                parts.setdefault(merged, []).append(f"{value:.1f}")
            total = sum(stages.values())
            bare = gateway = None
            shares: dict[str, float] = {}
            if live:
                bare = live["cpu_us"].get(("bare", workload))
                gateway = live["cpu_us"].get((f"zdr-{org}", workload))
                shares = live["profile"].get((org, workload), {})
            lines += [f"## {org} org, {workload}", ""]
            if bare is not None and gateway is not None:
                lines += [f"Live, whole process tree: bare pass-through **{bare:.0f} µs/request**"
                          f", zdr serve **{gateway:.0f} µs/request**: "
                          f"**{gateway - bare:+.0f} µs** above bare (the gateway serves "
                          f"{bare / gateway:.0%} of bare's requests per core). Kernel (system)"
                          f" time: bare {live['system_share'][('bare', workload)]:.0%}, "
                          f"gateway {live['system_share'][(f'zdr-{org}', workload)]:.0%} of "
                          f"the CPU (py-spy samples Python frames holding the GIL; each "
                          f"stage's share of them is applied to the whole).", ""]
            lines += ["| stage | in-process µs/exchange | share of in-process | live µs (py-spy "
                      "share x tree CPU) |", "|---|---|---|---|"]
            names = [name for name, _ in STAGES if name in stages or name in shares]
            names += [name for name in stages if name not in names]
            for name in names:
                value = stages.get(name)
                cells = ["", ""]
                if value is not None:
                    detail = f" ({' + '.join(parts[name])})" if len(parts[name]) > 1 else ""
                    cells = [f"{value:.1f}{detail}", f"{value / max(total, 1e-9):.0%}"]
                live_cell = "" if gateway is None or name not in shares else \
                    f"{shares[name] * gateway:.1f}"
                lines.append(f"| {name} | {cells[0]} | {cells[1]} | {live_cell} |")
            if gateway is not None and shares:
                lines.append(f"| {OTHER} | | | {shares.get(OTHER, 0.0) * gateway:.1f} |")
            live_sum = "" if gateway is None else f"**{gateway:.0f}** (bare {bare:.0f})"
            lines += [f"| **sum** | **{total:.1f}** | | {live_sum} |", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="per live run")
    parser.add_argument("--time-cap", type=float, default=8.0, help="seconds per live run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--exchanges", type=int, default=2000,
                        help="exchanges through the in-process store and classifier stages")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round of each stage")
    parser.add_argument("--no-live", dest="live", action="store_false")
    parser.add_argument("--no-inproc", dest="inproc", action="store_false")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--write", type=Path, default=compare.RESULTS / "budget.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zdr-budget-") as folder:
        work = Path(folder)
        port = compare.free_port()
        upstream = compare.start_server(
            "stand-in", zdr_target.stub_command(PYTHON, port, compare.STREAM_CHUNKS), port, work)
        try:
            home = work / "home"
            keys = zdr_target.prepare_home(PYTHON, home)
            inproc = asyncio.run(inproc_budget(home, upstream.base_url, keys, args.exchanges,
                                               args.calls)) if args.inproc else {}
            live = live_budget(work, home, keys, upstream, args) if args.live else None
        finally:
            upstream.stop()
    text = render(args, inproc, live)
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(text, encoding="utf-8")
    if live:
        (args.write.with_suffix(".json")).write_text(json.dumps(
            {"inproc": {f"{o}/{w}": v for (o, w), v in inproc.items()},
             "live_cpu_us": {f"{t}/{w}": v for (t, w), v in live["cpu_us"].items()},
             "profile": {f"{o}/{w}": v for (o, w), v in live["profile"].items()}}, indent=1))
    print(text)
    print(f"written: {args.write}")


if __name__ == "__main__":
    main()
