"""The aiohttp `Upstream` over loopback sockets: what it sends is exactly what it was given, the
body comes back as it arrives, and every client failure becomes one of the error tree's upstream
errors, with a message of its own (never the exception's text)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from zdr.errors import UpstreamDropped, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from zdr.gateway.upstream_aiohttp import AiohttpUpstream, translated
from zdr.testing.servers import free_port

SECRET = "SECRET-IN-CLIENT-ERROR"


@pytest.mark.parametrize(("error", "translation"), [
    (TimeoutError(SECRET), UpstreamTimeout),
    (aiohttp.ServerTimeoutError(SECRET), UpstreamTimeout),            # read timeout
    (aiohttp.ConnectionTimeoutError(SECRET), UpstreamTimeout),        # connect timeout
    (aiohttp.SocketTimeoutError(SECRET), UpstreamTimeout),
    (aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey(
        SECRET, 443, True, True, None, None, None), OSError(111, SECRET)), UpstreamUnreachable),
    (aiohttp.ServerDisconnectedError(SECRET), UpstreamDropped),   # closed mid-answer
    (aiohttp.ClientPayloadError(SECRET), UpstreamDropped),        # a broken body
    (aiohttp.ClientOSError(104, SECRET), UpstreamDropped),        # reset
    (aiohttp.ClientError(SECRET), UpstreamDropped),               # anything else
])
def test_client_errors_become_the_trees_upstream_errors(error: BaseException,
                                                        translation: type) -> None:
    result = translated(error)
    assert type(result) is translation and isinstance(result, UpstreamError)
    assert SECRET not in result.message and SECRET not in str(result)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def upstream_for() -> AsyncIterator[Callable[..., Awaitable[AiohttpUpstream]]]:
    servers: list[TestServer] = []
    upstreams: list[AiohttpUpstream] = []

    async def make(handler: Handler, **timeouts: float) -> AiohttpUpstream:
        server = await serve(handler)
        servers.append(server)
        upstream = AiohttpUpstream(f"http://127.0.0.1:{server.port}/prefix/",
                                   read_timeout=timeouts.get("read", 5.0))
        await upstream.start()
        upstreams.append(upstream)
        return upstream

    yield make
    for upstream in upstreams:
        await upstream.close()
    for server in servers:
        await server.close()


async def test_the_target_headers_and_body_are_sent_exactly(upstream_for: Any) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(target=request.raw_path, method=request.method, body=await request.read(),
                    headers={k.lower(): v for k, v in request.headers.items()})
        return web.Response(body=b'{"ok":true}', content_type="application/json",
                            headers={"request-id": "req_1"})

    upstream = await upstream_for(handler)
    target = "/v1/messages?note=%2F..%2F&x=%41&y=caf%C3%A9&z=a%20b"
    async with upstream.request("POST", target, {"x-api-key": "sk-p", "anthropic-beta": "b1"},
                                b'{"a":  1}') as reply:
        assert (reply.status, reply.headers["request-id"]) == (200, "req_1")
        assert await reply.read() == b'{"ok":true}'
    assert seen["target"] == "/prefix" + target                # the base URL's path, then ours
    assert (seen["method"], seen["body"]) == ("POST", b'{"a":  1}')
    assert seen["headers"]["x-api-key"] == "sk-p" and seen["headers"]["anthropic-beta"] == "b1"
    assert "user-agent" not in seen["headers"] and "accept-encoding" not in seen["headers"]


async def test_a_streamed_request_body_is_sent_as_it_comes(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            yield part

    upstream = await upstream_for(handler)
    async with upstream.request("POST", "/v1/files", {}, parts()) as reply:
        assert await reply.read() == b"one two three"


async def test_the_body_arrives_chunk_by_chunk_and_is_not_decompressed(
    upstream_for: Any
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream",
                                               "content-encoding": "gzip"})
        await response.prepare(request)
        for part in (b"event: a\n", b"data: 1\n\n", b"\x1f\x8b not really gzip"):
            await response.write(part)
            await asyncio.sleep(0.02)
        return response

    upstream = await upstream_for(handler)
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        chunks = [chunk async for chunk in reply.chunks()]
    assert b"".join(chunks) == b"event: a\ndata: 1\n\n\x1f\x8b not really gzip"
    assert len(chunks) == 3                                  # each as it came


async def test_an_upstream_nobody_listens_on_is_unreachable() -> None:
    upstream = AiohttpUpstream(f"http://127.0.0.1:{free_port()}", read_timeout=5)
    try:
        with pytest.raises(UpstreamUnreachable):
            async with upstream.request("GET", "/v1/models", {}, b""):
                pass
    finally:
        await upstream.close()


async def test_silence_past_the_read_timeout_is_a_timeout(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: ping\ndata: {}\n\n")
        await asyncio.sleep(5)
        return response

    upstream = await upstream_for(handler, read=0.3)
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        chunks = reply.chunks()
        assert await anext(chunks) == b"event: ping\ndata: {}\n\n"
        with pytest.raises(UpstreamTimeout):
            await anext(chunks)


async def test_a_connection_cut_mid_body_is_a_disconnect(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-length": "1000"})
        await response.prepare(request)
        await response.write(b"partial")
        assert request.transport is not None
        request.transport.close()
        return response

    upstream = await upstream_for(handler)
    for read_all in (False, True):
        with pytest.raises(UpstreamDropped):
            async with upstream.request("GET", "/v1/cut", {}, b"") as reply:
                if read_all:
                    await reply.read()
                else:
                    async for _ in reply.chunks():
                        pass


async def test_leaving_the_block_early_closes_the_connection(upstream_for: Any) -> None:
    closed = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        finished = False
        try:
            for _ in range(250):        # until the server sees the connection gone
                await response.write(b"event: ping\ndata: {}\n\n")
                await asyncio.sleep(0.02)
            finished = True
        finally:                        # cancelled, or a write failed
            if not finished:
                closed.set()
        return response

    upstream = await upstream_for(handler)
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        async for _ in reply.chunks():
            break                               # the client hung up after one chunk
    await asyncio.wait_for(closed.wait(), 5)    # the upstream sees the connection go
