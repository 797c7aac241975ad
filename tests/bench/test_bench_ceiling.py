"""The ceiling bench's own parts: the httptools keep-alive pool (streams as bytes arrive, reuses a
finished connection, drops an unfinished one so the upstream sees the request end), the median
of rounds and the ratios against today's stack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import ceiling
import ceiling_clients
import pytest
from aiohttp import web
from ceiling_clients import HttptoolsUpstream

pytest.importorskip("httptools")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def test_pool_hands_over_each_chunk_as_it_arrives_and_reuses_the_connection() -> None:
    finished: list[bool] = []

    async def slow_stream(request: web.Request) -> web.StreamResponse:
        assert await request.read() == b'{"n":1}'
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for number in range(3):
            await response.write(f"data: {number}\n\n".encode())
            await asyncio.sleep(0.1)
        finished.append(True)
        await response.write_eof()
        return response

    async def scenario() -> None:
        runner, base = await _serve(slow_stream)
        pool = HttptoolsUpstream(base)
        try:
            for _ in range(2):
                answer = await pool.open("POST", "/v1/messages",
                                         [(b"content-type", b"application/json")], b'{"n":1}')
                assert (answer.status, answer.content_type) == (200, b"text/event-stream")
                first = await answer.read_chunk()
                assert first == b"data: 0\n\n" and not finished  # before the upstream ended
                rest = b""
                while (chunk := await answer.read_chunk()) is not None:
                    rest += chunk
                assert rest == b"data: 1\n\ndata: 2\n\n"
                await answer.aclose()
                finished.clear()
                assert len(pool.idle) == 1
            connection = pool.idle[0]
            assert not connection.closed
        finally:
            for connection in pool.idle:
                connection.abort()
            await runner.cleanup()

    asyncio.run(scenario())


def test_pool_drops_an_unfinished_response_and_the_upstream_sees_it() -> None:
    async def scenario() -> None:
        failed = asyncio.Event()

        async def endless(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            try:
                for _ in range(100):
                    await response.write(b"data: x\n\n")
                    await asyncio.sleep(0.02)
            except (ConnectionResetError, OSError):
                failed.set()
                raise
            return response

        runner, base = await _serve(endless)
        pool = HttptoolsUpstream(base)
        try:
            answer = await pool.open("POST", "/v1/messages", [], b"{}")
            assert await answer.read_chunk()
            await answer.aclose()  # the client hung up mid-stream
            assert pool.idle == []
            await asyncio.wait_for(failed.wait(), 1.5)  # not 2 s later, at the stream's end
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_the_median_round_is_kept_and_compared_with_today() -> None:
    rows = [
        {"target": target, "scenario": "small c=16", "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0,
         "cpu_s_per_1k": cpu, "peak_rss_mb": 40.0, "errors": 0, "ok": 100}
        for target, rps, cpu in (
            ("today", 1000, 0.20), ("today", 3000, 0.10), ("today", 2000, 0.16),
            ("uvicorn+httptools", 4000, 0.08), ("uvicorn+httptools", 1000, 0.09),
            ("uvicorn+httptools", 3000, 0.07),
        )
    ]
    figures = ceiling.medians(rows)
    assert figures[("today", "small c=16")]["rps"] == 2000
    assert figures[("today", "small c=16")]["cpu_s_per_1k"] == 0.16
    assert figures[("uvicorn+httptools", "small c=16")]["cpu_s_per_1k"] == 0.08
    meta = {"command": "c", "started": "s", "finished": "f", "loadavg_before": "1",
            "loadavg_after": "1", "machine": {"cpu": "x", "memory": "1", "python": "3.11"},
            "candidates": {}, "rounds": 3, "requests": 10, "time_cap": 1}
    variants = [v for v in ceiling.VARIANTS if v.name in ("today", "uvicorn+httptools")]
    text = ceiling.render(meta, figures, {}, variants, [ceiling.Scenario("small", 16)], [])
    line = next(row for row in text.splitlines() if row.startswith("| uvicorn + httptools pool"))
    assert "| 3,000 | 1.50 |" in line and "| 0.080 | 0.50 |" in line


def test_pool_gives_up_on_an_upstream_that_stops_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ceiling_clients, "READ_TIMEOUT", 0.2)

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 0\n\n")
        await asyncio.sleep(1)
        return response

    async def scenario() -> None:
        runner, base = await _serve(stalls)
        pool = HttptoolsUpstream(base)
        try:
            answer = await pool.open("POST", "/v1/messages", [], b"{}")
            assert await answer.read_chunk() == b"data: 0\n\n"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(answer.read_chunk(), 3)
            await answer.aclose()
            assert pool.idle == []
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
