"""The comparison's own arithmetic and plumbing: workloads, percentiles, the performance goals, the
best-round pick, process-tree accounting, and the load generators against a tiny local server."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import compare
import proc_tree
import pytest
import report
from aiohttp import web
from loadgen import LoadSpec, percentile_ms, require_loopback, run_load
from wrk_load import run_wrk


def test_conversation_body_is_200_kb_of_valid_turns_ending_with_the_user() -> None:
    body = compare.conversation_body()
    parsed = json.loads(body)
    assert 200 * 1024 - 1500 <= len(body) <= 200 * 1024 + 1500
    assert parsed["messages"][-1]["role"] == "user"
    roles = [m["role"] for m in parsed["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))  # turns alternate


def test_every_scenario_is_planned_and_a_filter_narrows_them() -> None:
    assert len(compare.scenarios(None)) == 9
    picked = compare.scenarios({"stream", "small:64"})
    assert [s.name for s in picked] == ["small c=64", "stream c=1", "stream c=16", "stream c=64"]
    assert all(json.loads(s.body).get("stream") is True for s in picked if s.stream)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([0.001 * i for i in range(1, 101)], 50, 50.0),  # 100 values: the 50th
        ([0.001 * i for i in range(1, 101)], 99, 99.0),  # the 99th
        ([0.004], 99, 4.0),  # one value is every percentile
        ([], 50, None),  # nothing measured
    ],
)
def test_percentile_is_nearest_rank_in_ms(values: list[float], pct: float, expected: float) -> None:
    assert percentile_ms(values, pct) == expected


@pytest.mark.parametrize("url", ["http://10.0.0.1/v1/messages", "http://192.168.1.2:80/",
                                 "http://8.8.8.8/"])
def test_load_goes_to_loopback_only(url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        require_loopback(url)


def test_loopback_addresses_pass() -> None:
    for url in ("http://127.0.0.1:1/", "http://localhost:1/", "http://[::1]:1/"):
        require_loopback(url)


def _row(target: str, workload: str, c: int, rps: float, p50: float, p99: float,
         ttfb: float | None = None, cpu: float = 0.1) -> dict[str, object]:
    return {"target": target, "workload": workload, "concurrency": c, "scenario":
            f"{workload} c={c}", "rps": rps, "p50_ms": p50, "p99_ms": p99, "ttfb_p50_ms": ttfb,
            "ttfb_p99_ms": ttfb, "peak_rss_mb": 50.0, "cpu_s_per_1k": cpu, "errors": 0,
            "loadavg": "0.5 0.4 0.3"}


def test_targets_are_ratios_against_the_same_runs() -> None:
    results = [
        _row("direct", "small", 16, 10000, 1.0, 3.0),
        _row("bare", "small", 16, 5000, 1.5, 4.0, cpu=0.2),
        _row("zdr-zdr", "small", 16, 4000, 1.8, 9.0, cpu=0.25),
        _row("zdr-standard", "small", 16, 3000, 2.0, 9.0, cpu=0.5),
        _row("litellm-off", "small", 16, 100, 101.0, 300.0, cpu=10.0),
        _row("direct", "stream", 1, 2000, 0.5, 1.0, ttfb=0.3),
        _row("zdr-zdr", "stream", 1, 900, 1.0, 2.0, ttfb=1.6),
    ]
    rows = {r[0]: r[1:] for r in report.target_rows(results)}
    assert rows["zdr-zdr: throughput vs bare pass-through, small c=16"] == ["≥ 70 %", "80 %", "yes"]
    assert rows["zdr-zdr: req/s per core (CPU) vs bare, small c=16"] == ["≥ 70 %", "80 %", "yes"]
    assert rows["zdr-standard: throughput vs bare pass-through, small c=16"] == [
        "≥ 60 %", "60 %", "yes"]
    assert rows["zdr-standard: req/s per core (CPU) vs bare, small c=16"] == [
        "≥ 60 %", "40 %", "**no**"]
    assert rows["zdr-zdr: throughput vs direct, small c=16"] == ["≥ 40 % (stretch)", "40 %", "yes"]
    assert rows["zdr-standard: throughput vs direct, small c=16"] == [
        "≥ 40 % (stretch)", "30 %", "**no**"]
    assert rows["zdr-zdr: added p50, small c=16"] == ["≤ 2 ms", "0.80 ms", "yes"]
    assert rows["zdr-zdr: added p50, stream c=1"] == ["≤ 0.5 ms", "0.50 ms", "yes"]
    assert rows["zdr-zdr: added p99, small c=16"] == ["≤ 8 ms", "6.00 ms", "yes"]
    assert rows["zdr-zdr: stream TTFB added (p50), c=1"] == ["≤ 0.5 ms", "1.30 ms", "**no**"]
    assert rows["zdr-zdr: throughput vs litellm-off, small c=16"] == ["≥ 20x", "40.0x", "yes"]
    assert rows["zdr-zdr: added p50 vs litellm-off's, small c=16"] == ["≤ 1/10", "0.8 %", "yes"]
    assert rows["zdr-zdr: throughput vs litellm-on, small c=16"] == ["≥ 20x", "not measured", "-"]
    assert rows["zdr-zdr: req/s per core (CPU) vs litellm-off, small c=16"] == [
        "≥ 20x", "40.0x", "yes"]
    assert rows["RSS per worker over a 10-minute run (bench/soak.py)"] == [
        "flat", "not measured", "-"]


def test_the_floors_are_also_held_against_the_pass_through_on_the_gateways_own_stack() -> None:
    results = [
        _row("bare", "small", 16, 5000, 1.5, 4.0, cpu=0.2),
        _row("bare-own", "small", 16, 8000, 1.2, 3.0, cpu=0.125),
        _row("zdr-zdr", "small", 16, 4000, 1.8, 9.0, cpu=0.25),
    ]
    rows = {r[0]: r[1:] for r in report.target_rows(results)}
    assert rows["zdr-zdr: throughput vs bare pass-through, small c=16"] == ["≥ 70 %", "80 %", "yes"]
    assert rows["zdr-zdr: throughput vs bare-own, small c=16"] == ["≥ 70 %", "50 %", "**no**"]
    assert rows["zdr-zdr: req/s per core (CPU) vs bare-own, small c=16"] == [
        "≥ 70 %", "50 %", "**no**"]
    without = {r[0] for r in report.target_rows(results[:1] + results[2:])}
    assert not any("bare-own" in label for label in without)


def test_scenario_table_shows_added_latency_and_ratio() -> None:
    results = [_row("direct", "small", 16, 10000, 1.0, 3.0),
               _row("zdr-zdr", "small", 16, 5000, 1.5, 4.5)]
    table = report.scenario_table(results, "small", 16, ["direct", "zdr-zdr"])
    assert "| zdr-zdr | 5000 | 0.50 | 1.50 | 4.50 | 0.50 | 1.50 |" in table


def test_the_least_disturbed_round_is_kept() -> None:
    rows = [{"target": "a", "scenario": "s", "rps": 10.0, "round": 1},
            {"target": "a", "scenario": "s", "rps": 30.0, "round": 2},
            {"target": "b", "scenario": "s", "rps": 5.0, "round": 1}]
    kept = {(r["target"], r["round"]) for r in compare.best_rounds(rows)}
    assert kept == {("a", 2), ("b", 1)}


def test_added_latency_is_against_direct_of_the_same_round() -> None:
    rows = [
        {**_row("direct", "small", 16, 9000, 1.0, 3.0), "round": 1},
        {**_row("direct", "small", 16, 5000, 2.0, 9.0), "round": 2},
        {**_row("zdr-zdr", "small", 16, 100, 9.0, 9.0), "round": 1},
        {**_row("zdr-zdr", "small", 16, 200, 2.5, 9.5), "round": 2},  # kept: best throughput
    ]
    kept = compare.best_rounds(rows)
    zdr = next(r for r in kept if r["target"] == "zdr-zdr")
    assert zdr["baseline"]["p50_ms"] == 2.0  # round 2's direct, not the best direct (round 1)
    table = report.scenario_table(kept, "small", 16, ["direct", "zdr-zdr"])
    assert "| zdr-zdr | 200 | 0.04 | 2.50 | 9.50 | 0.50 | 0.50 |" in table


def test_process_tree_cpu_and_memory_include_children() -> None:
    work = ("import time\nx = 0\nfor i in range(3_000_000): x += i\n"
            "print(time.process_time(), flush=True)\ntime.sleep(5)")
    with proc_tree.TreeMonitor([os.getpid()], interval=0.05) as monitor:
        child = subprocess.Popen([sys.executable, "-c", work], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        with child.stdout:
            child_cpu = float(child.stdout.readline())  # the child's own count, after its work
        assert child.pid in proc_tree.descendants(os.getpid())
    try:
        assert monitor.cpu >= child_cpu * 0.9  # the child's busy loop is counted
        assert monitor.peak_rss > 5 * 2**20
    finally:
        child.kill()
        child.wait()


@pytest.fixture()
def tiny_server() -> Iterator[str]:
    """A 127.0.0.1 server on a free port answering POST /v1/messages with a small JSON body."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"type": "message"})

    async def serve() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/v1/messages", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    runner_box: list[web.AppRunner] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner_box.append(loop.run_until_complete(serve()))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield f"http://127.0.0.1:{port}/v1/messages"
    asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_python_load_generator_sends_the_fixed_count(tiny_server: str) -> None:
    result = run_load(LoadSpec(tiny_server, b"{}", {"content-type": "application/json"},
                               concurrency=4, requests=120, time_cap=20, processes=2))
    assert (result.ok, result.errors, result.capped) == (120, 0, False)
    assert len(result.latencies) == len(result.ttfbs) == 120
    assert all(t <= lat for t, lat in zip(result.ttfbs, result.latencies, strict=True))


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by bench/compare.py")
def test_wrk_stops_at_the_fixed_count(tiny_server: str) -> None:
    started = time.monotonic()
    row = run_wrk(shutil.which("wrk") or "", tiny_server, b"{}", {"x-api-key": 'k"q'},
                  concurrency=4, requests=400, time_cap=20, threads=2)
    assert time.monotonic() - started < 15  # stopped by the count, not the 20 s cap
    assert row["ok"] >= 400 and row["errors"] == 0 and row["capped"] is False
    assert row["p50_ms"] > 0
