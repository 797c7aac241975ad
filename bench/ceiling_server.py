"""A purpose-built HTTP/1.1 server for the ceiling bench (bench/ceiling.py): one
`asyncio.Protocol` per connection on uvloop, requests parsed by httptools (llhttp), no ASGI
server in between.

    serve(handler, host, port)          # handler(request) -> awaitable, the direct interface
    serve(asgi_handler(app), host, port)  # the same ASGI app uvicorn runs, with a minimal scope

What it does: keep-alive (closed after `KEEP_ALIVE` idle seconds), HTTP/1.0 and `Connection:
close`, pipelined requests (queued and answered in order; reading pauses while `PIPELINE_MAX`
wait), `Content-Length` and chunked request bodies (reading pauses while more than `BODY_HIGH`
unread body bytes wait), responses with `Content-Length` or chunked (streams, written chunk by
chunk, `send()` waits while the transport is paused: `pause_writing` / `resume_writing`), the
head written with the first body bytes, and a client that hangs up cancels the handler's task.
Whatever llhttp refuses is answered 400 and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httptools

KEEP_ALIVE = 5.0
PIPELINE_MAX = 16
BODY_HIGH = 256 * 1024
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 500: b"Internal Server Error"}
BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n"
               b"connection: close\r\n\r\nBad Request")


class Request:
    """One request and its response. The handler reads `method`, `path`, `query`, `headers`
    (lower-case names), `await body()`; answers with `start(status, headers)`, `await
    send(chunk)`, `await end()` (or `respond(status, headers, body)` in one go)."""

    __slots__ = ("_body", "_body_done", "_chunked", "_conn", "_head", "_waiter", "complete",
                 "headers", "keep_alive", "method", "path", "query", "started", "version")

    def __init__(self, conn: HttpProtocol, method: bytes, url: bytes,
                 headers: list[tuple[bytes, bytes]], version: str, keep_alive: bool) -> None:
        self._conn = conn
        self.method = method.decode("ascii")
        parsed = httptools.parse_url(url)
        self.path = parsed.path.decode("ascii")
        self.query = parsed.query or b""
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self._body: list[bytes] = []
        self._body_done = False
        self._waiter: asyncio.Future[None] | None = None
        self._head = b""
        self._chunked = False
        self.started = False
        self.complete = False

    # the request body (the connection's side feeds it)
    def _feed(self, chunk: bytes) -> None:
        self._body.append(chunk)
        self._wake()

    def _finish(self) -> None:
        self._body_done = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def body(self) -> bytes:
        while not self._body_done:
            if self._conn.lost:
                raise ConnectionResetError("the client hung up")
            self._conn.resume_body()
            self._waiter = self._conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        body = self._body
        return body[0] if len(body) == 1 else b"".join(body)

    # the response
    def start(self, status: int, headers: list[tuple[bytes, bytes]],
              content_length: int | None = None) -> None:
        """The head, written with the first body bytes."""
        reason = REASONS.get(status, b"")
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        if content_length is not None:
            head.append(b"content-length: %d\r\n" % content_length)
        elif self.version == "1.1":
            self._chunked = True
            head.append(b"transfer-encoding: chunked\r\n")
        else:
            self.keep_alive = False
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self._head = b"".join(head)
        self.started = True

    async def send(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._chunked:
            chunk = b"%x\r\n%b\r\n" % (len(chunk), chunk)
        conn = self._conn
        if self._head:
            chunk = self._head + chunk
            self._head = b""
        conn.write(chunk)
        if conn.paused:
            await conn.drain()

    async def end(self) -> None:
        tail = b"0\r\n\r\n" if self._chunked else b""
        if self._head:
            tail = self._head + tail
            self._head = b""
        if tail:
            self._conn.write(tail)
        self.complete = True

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.start(status, headers, len(body))
        self._conn.write(self._head + body)
        self._head = b""
        self.complete = True


Handler = Callable[[Request], Awaitable[None]]


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.loop = loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.pipeline: deque[Request] = deque()
        self.current: Request | None = None  # the request whose bytes are being parsed
        self.task: asyncio.Task[None] | None = None
        self.serving: Request | None = None
        self.paused = False
        self.reading_paused = False
        self.lost = False
        self._drain: asyncio.Future[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body_bytes = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._bad()
        except httptools.HttpParserError:
            self._bad()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._idle is not None:
            self._idle.cancel()
        serving = self.serving
        if serving is not None:
            serving._wake()
            if not serving.complete and self.task is not None:
                self.task.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        request = Request(self, parser.get_method(), self._url, self._headers,
                          parser.get_http_version(), parser.should_keep_alive())
        self.current = request
        self._body_bytes = 0
        if self.task is None:
            self.serving = request
            self.task = self.loop.create_task(self._serve(request))
        else:
            self.pipeline.append(request)
            if len(self.pipeline) >= PIPELINE_MAX:
                self._pause_reading()

    def on_body(self, body: bytes) -> None:
        request = self.current
        if request is not None:
            request._feed(body)
            self._body_bytes += len(body)
            if self._body_bytes > BODY_HIGH and request is self.serving:
                self._pause_reading()

    def on_message_complete(self) -> None:
        if self.current is not None:
            self.current._finish()
            self.current = None

    # serving
    async def _serve(self, request: Request) -> None:
        try:
            while True:
                try:
                    await self.handler(request)
                except asyncio.CancelledError:
                    if self.lost:
                        return
                    raise
                except Exception:
                    traceback.print_exc()
                    if not request.started:
                        request.respond(500, [(b"content-type", b"text/plain")], b"error")
                    else:
                        self.transport.close()
                        return
                if not request.complete:
                    await request.end()
                if self.lost:
                    return
                if not request.keep_alive or not request._body_done:
                    self.transport.close()  # an unread body: the framing is lost
                    return
                if not self.pipeline:
                    break
                request = self.pipeline.popleft()
                self.serving = request
                if self.reading_paused and len(self.pipeline) < PIPELINE_MAX:
                    self._resume_reading()
        finally:
            self.task = None
            self.serving = None
        self._arm_idle()

    def write(self, data: bytes) -> None:
        if not self.lost:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.paused and not self.lost:
            self._drain = self.loop.create_future()
            await self._drain
            self._drain = None

    def resume_body(self) -> None:
        self._body_bytes = 0
        if self.reading_paused and len(self.pipeline) < PIPELINE_MAX:
            self._resume_reading()

    def _pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.reading_paused and not self.lost:
            self.reading_paused = False
            self.transport.resume_reading()

    def _arm_idle(self) -> None:
        if not self.lost and self.task is None:
            self._idle = self.loop.call_later(KEEP_ALIVE, self._idle_out)

    def _idle_out(self) -> None:
        self._idle = None
        if self.task is None:
            self.transport.close()

    def _bad(self) -> None:
        serving = self.serving
        if serving is not None and serving.started:
            self.transport.close()
            return
        if self.task is not None:
            self.task.cancel()
        self.transport.write(BAD_REQUEST)
        self.transport.close()


# ---------------------------------------------------------------- ASGI on top


def asgi_handler(app: Any, server: tuple[str, int] = ("127.0.0.1", 0)) -> Handler:
    """The direct interface calling an ASGI app with a minimal `http` scope."""

    async def handle(request: Request) -> None:
        client = request._conn.transport.get_extra_info("peername")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.version,
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.path.encode(),
            "query_string": request.query,
            "root_path": "",
            "headers": request.headers,
            "client": client[:2] if client else None,
            "server": server,
        }
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": await request.body(),
                        "more_body": False}
            while not request._conn.lost and not request.complete:
                waiter = request._conn.loop.create_future()
                request._waiter = waiter
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                request.start(message["status"], list(message.get("headers", ())))
            elif kind == "http.response.body":
                await request.send(message.get("body", b""))
                if not message.get("more_body", False):
                    await request.end()

        await app(scope, receive, send)

    return handle


def serve(handler: Handler, host: str, port: int) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: HttpProtocol(handler, loop), host, port,
                                          backlog=2048)
        async with server:
            await server.serve_forever()

    uvloop.run(main())
