"""The `Upstream` port in memory, for tests: a handler function answers each request; no sockets.

    def handler(request: SentRequest) -> CannedReply:
        return CannedReply.json({"id": "msg_1", "type": "message", ...})

    upstream = MemoryUpstream(handler)
    app = build_app(settings, upstream=upstream, ...)      # then drive the ASGI app
    assert upstream.requests[-1].target == "/v1/messages?beta=true"

A reply's body is a sequence of chunks, relayed one by one. In place of a chunk it may hold a
fault: an `UpstreamError` raised there (`UpstreamDropped()`: the upstream hung up mid-body;
`UpstreamTimeout()`: it went silent past the read timeout), or `STALL` (nothing more, until the
client hangs up and the exchange is cancelled). A handler that raises `UpstreamUnreachable()` or
`UpstreamTimeout()` is an upstream that cannot be reached or does not answer. These are the
errors `zdr.gateway.upstream_aiohttp` raises for the same faults on a real connection.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Any, Self

import orjson

from zdr.errors import UpstreamError
from zdr.ports import UpstreamBody


class Stall(Enum):
    STALL = "stall"


STALL = Stall.STALL     # in a reply's body: nothing more arrives until the exchange is cancelled
Chunk = bytes | UpstreamError | Stall


@dataclass(frozen=True, slots=True)
class SentRequest:
    """What the upstream received: the target as sent, headers by lower-case name, the body."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class CannedReply:
    """One answer: status, headers (any case; looked up in lower case) and the body's chunks."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Sequence[Chunk] = ()

    @classmethod
    def json(cls, value: Any, status: int = 200,
             headers: Mapping[str, str] | None = None) -> CannedReply:
        return cls(status, {"content-type": "application/json", **(headers or {})},
                   (orjson.dumps(value),))

    @classmethod
    def error(cls, status: int, error_type: str, message: str,
              headers: Mapping[str, str] | None = None) -> CannedReply:
        """An error in the API's format (`{"type": "error", "error": {...}}`)."""
        return cls.json({"type": "error", "error": {"type": error_type, "message": message}},
                        status, headers)

    @classmethod
    def sse(cls, events: Iterable[tuple[str, Any]], *, then: Sequence[Chunk] = (),
            headers: Mapping[str, str] | None = None) -> CannedReply:
        """A stream of `event: NAME` / `data: JSON` events, one chunk each, then `then`'s."""
        chunks: list[Chunk] = [b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data)
                               + b"\n\n" for name, data in events]
        return cls(200, {"content-type": "text/event-stream", **(headers or {})},
                   (*chunks, *then))


Handler = Callable[[SentRequest], CannedReply | Awaitable[CannedReply]]


class MemoryUpstream:
    """Answers every request with `handler`'s reply; keeps what was sent (`requests`) and which
    replies were left before their body's end (`abandoned`: the client hung up, or a fault)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[SentRequest] = []
        self.abandoned: list[SentRequest] = []
        self.open = False

    def request(self, method: str, target: str, headers: Mapping[str, str],
                body: UpstreamBody) -> MemoryReply:
        return MemoryReply(self, method, target, headers, body)

    async def start(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.open = False


class MemoryReply:
    """One request's context manager and, once entered, its reply (`zdr.ports.UpstreamReply`)."""

    def __init__(self, upstream: MemoryUpstream, method: str, target: str,
                 headers: Mapping[str, str], body: UpstreamBody) -> None:
        self._upstream = upstream
        self._method, self._target, self._headers, self._body = method, target, headers, body
        self._sent: SentRequest | None = None
        self._chunks: Sequence[Chunk] = ()
        self._reading: _Chunks | None = None
        self.finished = False     # the body was read to its end
        self.status = 0
        self.headers: Mapping[str, str] = {}

    async def __aenter__(self) -> Self:
        body = self._body if isinstance(self._body, bytes) else await _joined(self._body)
        sent = SentRequest(self._method, self._target,
                           {k.lower(): v for k, v in self._headers.items()}, body)
        self._sent = sent
        self._upstream.requests.append(sent)
        answer = self._upstream.handler(sent)
        reply = await answer if inspect.isawaitable(answer) else answer
        self.status = reply.status
        self.headers = {k.lower(): v for k, v in reply.headers.items()}
        self._chunks = reply.body
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if not self.finished and self._sent is not None:
            self._upstream.abandoned.append(self._sent)

    def chunks(self) -> _Chunks:
        self._reading = _Chunks(self, self._chunks)
        return self._reading

    @property
    def ended(self) -> bool:
        return self._reading is not None and self._reading.ended

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class _Chunks:
    """A reply's body, chunk by chunk, its faults raised where they stand."""

    def __init__(self, reply: MemoryReply, chunks: Sequence[Chunk]) -> None:
        self._reply = reply
        self._items = chunks
        self._next = 0
        # past this index only empty chunks are left
        self._last = max((n for n, item in enumerate(chunks)
                          if not isinstance(item, bytes) or item), default=-1)

    @property
    def ended(self) -> bool:
        return self._next > self._last

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        while self._next < len(self._items):
            item = self._items[self._next]
            self._next += 1
            if isinstance(item, Stall):
                await asyncio.Event().wait()         # until the exchange is cancelled
            elif isinstance(item, UpstreamError):
                raise copy.copy(item)               # a fresh one: a reply may be reused
            elif item:
                if self._next > self._last:     # its last chunk: read to its end
                    self._reply.finished = True
                return item
        self._reply.finished = True
        raise StopAsyncIteration


async def _joined(body: AsyncIterable[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])
