"""The in-memory `Upstream`: it records what it was sent, answers with its handler's canned
reply, raises the faults a reply holds where they stand, and tells which replies were left
before their end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from zdr.errors import UpstreamDropped, UpstreamTimeout, UpstreamUnreachable
from zdr.gateway.upstream_memory import STALL, CannedReply, MemoryUpstream, SentRequest


async def test_it_records_the_request_and_answers_with_the_handlers_reply() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    upstream = MemoryUpstream(lambda _r: CannedReply.json({"ok": True}, 201,
                                                          {"Request-Id": "req_1"}))
    async with upstream.request("POST", "/v1/x?y=%41", {"X-Api-Key": "k"}, parts()) as reply:
        assert (reply.status, reply.headers["request-id"]) == (201, "req_1")
        assert reply.headers["content-type"] == "application/json"
        assert await reply.read() == b'{"ok":true}'
    assert upstream.requests == [SentRequest("POST", "/v1/x?y=%41", {"x-api-key": "k"}, b"ab")]
    assert upstream.abandoned == []


async def test_an_async_handler_is_awaited() -> None:
    async def handler(request: SentRequest) -> CannedReply:
        return CannedReply(200, {}, (request.body,))

    async with MemoryUpstream(handler).request("POST", "/", {}, b"echo") as reply:
        assert [chunk async for chunk in reply.chunks()] == [b"echo"]


def test_canned_sse_and_error_replies_are_in_the_apis_format() -> None:
    stream = CannedReply.sse([("ping", {"type": "ping"})], then=(UpstreamDropped(),))
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.body[0] == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert isinstance(stream.body[1], UpstreamDropped)
    error = CannedReply.error(529, "overloaded_error", "Overloaded")
    assert error.status == 529 and orjson.loads(error.body[0]) == {
        "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@pytest.mark.parametrize("fault", [UpstreamDropped(), UpstreamTimeout()])
async def test_a_fault_in_the_body_is_raised_after_the_chunks_before_it(fault: Exception) -> None:
    upstream = MemoryUpstream(lambda _r: CannedReply(200, {}, (b"one", fault, b"never")))
    got: list[bytes] = []
    with pytest.raises(type(fault)):
        async with upstream.request("GET", "/", {}, b"") as reply:
            async for chunk in reply.chunks():
                got.append(chunk)
    assert got == [b"one"] and len(upstream.abandoned) == 1


@pytest.mark.parametrize("fault", [UpstreamUnreachable(), UpstreamTimeout()])
async def test_a_handler_that_raises_is_an_upstream_that_does_not_answer(
    fault: Exception
) -> None:
    def handler(_request: SentRequest) -> CannedReply:
        raise fault

    upstream = MemoryUpstream(handler)
    with pytest.raises(type(fault)):
        async with upstream.request("GET", "/", {}, b""):
            raise AssertionError("no reply")
    assert len(upstream.requests) == 1 and upstream.abandoned == []


async def test_a_stall_lasts_until_the_exchange_is_cancelled() -> None:
    upstream = MemoryUpstream(lambda _r: CannedReply(200, {}, (b"first", STALL, b"never")))

    async def relay() -> list[bytes]:
        async with upstream.request("GET", "/", {}, b"") as reply:
            return [chunk async for chunk in reply.chunks()]

    task = asyncio.create_task(relay())
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert upstream.abandoned == upstream.requests
