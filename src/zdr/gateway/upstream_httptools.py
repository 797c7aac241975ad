"""The `Upstream` port over a keep-alive connection pool of its own, responses parsed by
httptools (llhttp): `zdr serve` with `upstream_client = "httptools"`.

One `asyncio.Protocol` per connection, one request at a time on it. A connection whose answer
was read to its end (and that neither side asked to close) goes back to the pool; any other is
closed: a reply left early (the client hung up), a body cut short, a parse error, a timeout.
Idle connections close after `IDLE_SECONDS`.

Timers are few: the pool has one for its idle connections (they expire oldest first), and each
connection one for its read timeout, re-armed only when it fires before the current wait's
deadline. An exchange moves deadlines; it does not make and cancel timers.

Every failure is translated here into the error tree (`zdr.errors.UpstreamError`) as
`zdr.gateway.upstream_aiohttp` does: connecting fails -> `UpstreamUnreachable`; no byte within
the connect or read timeout -> `UpstreamTimeout`; the connection ends or breaks mid-exchange ->
`UpstreamDropped`. The exception's text is never used.

The target is sent byte for byte after the base URL's path. A `bytes` body goes with
`Content-Length`, an async-iterable one chunked. When the consumer falls behind by more than
`BUFFER_HIGH` bytes the connection stops reading until it takes them (TCP back-pressure to the
upstream). The consumer takes, at each wake-up, all the body bytes that have arrived, as one
chunk: what one read from the socket held goes on to the client in one send.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterable, Mapping
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from zdr.errors import UpstreamDropped, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from zdr.ports import UpstreamBody

IDLE_SECONDS = 30.0             # an idle pooled connection is closed after this (as aiohttp's)
BUFFER_HIGH = 256 * 1024        # body bytes buffered for a slow consumer before reading pauses
# A `bytes` body this large is written after the head as it is (one vectored write, no copy of
# it); a smaller one is joined to the head (one buffer is cheaper than two for a few KB).
SEPARATE_BODY_BYTES = 16 * 1024
_FORBIDDEN = ("\r", "\n", "\0")


# Why a connection failed, as the error tree's class (raised with its own message only).
_FailureKind = type[UpstreamDropped] | type[UpstreamTimeout]


class HttptoolsUpstream:
    """The upstream at `base_url` (its path prefix kept); `read_timeout` bounds each wait for
    bytes, not the whole exchange (a stream may last minutes)."""

    def __init__(self, base_url: str, *, read_timeout: float,
                 connect_timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the upstream URL must be http:// or https:// with a host")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        default_port = 443 if self._tls else 80
        self._port = parts.port or default_port
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_header = host if self._port == default_port else f"{host}:{self._port}"
        self._prefix = parts.path
        self.read_timeout, self.connect_timeout = read_timeout, connect_timeout
        self._ssl = ssl.create_default_context() if self._tls else None
        self._idle: deque[_Connection] = deque()     # oldest first: they expire in this order
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweeper_loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Nothing to start: connections open on the first request."""

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        while self._idle:
            self._idle.pop().abort()

    def request(self, method: str, target: str, headers: Mapping[str, str],
                body: UpstreamBody) -> HttptoolsReply:
        return HttptoolsReply(self, method, target, headers, body)

    # the pool
    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            connection.leave_idle()
            if not connection.closed:
                return connection
        return await self._connect()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(self)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.create_connection(
                    lambda: connection, self._host, self._port, ssl=self._ssl,
                    server_hostname=self._host if self._tls else None)
        except TimeoutError:
            connection.abort()
            raise UpstreamTimeout() from None
        except OSError:                 # refused, unresolvable, TLS (ssl.SSLError) ...
            connection.abort()
            raise UpstreamUnreachable() from None
        return connection

    def _release(self, connection: _Connection) -> None:
        if connection.reusable():
            loop = connection.loop
            until = connection.idle_until = loop.time() + IDLE_SECONDS
            self._idle.append(connection)
            if self._sweeper is None or self._sweeper_loop is not loop:
                self._sweeper, self._sweeper_loop = loop.call_at(until, self._sweep), loop
        else:
            connection.abort()

    def _sweep(self) -> None:
        """Close the connections idle for `IDLE_SECONDS`; wait for the next one to be."""
        self._sweeper = None
        idle = self._idle
        if not idle:
            return
        loop = idle[0].loop
        now = loop.time()
        while idle and (idle[0].idle_until or 0.0) <= now:
            connection = idle.popleft()
            connection.idle_until = None
            connection.abort()
        if idle:
            self._sweeper = loop.call_at(idle[0].idle_until or now, self._sweep)

    def _forget(self, connection: _Connection) -> None:
        with contextlib.suppress(ValueError):
            self._idle.remove(connection)

    def _head(self, method: str, target: str, headers: Mapping[str, str],
              body: UpstreamBody) -> bytes:
        lines = [f"{method} {self._prefix}{target} HTTP/1.1"]
        names = set()
        for name, value in headers.items():
            names.add(name.lower())
            lines.append(f"{name}: {value}")
        if "host" not in names:
            lines.append(f"Host: {self._host_header}")
        if isinstance(body, bytes | bytearray):
            if body or method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
                lines.append(f"Content-Length: {len(body)}")
        else:
            lines.append("Transfer-Encoding: chunked")
        fields = "".join(lines)
        if any(c in fields for c in _FORBIDDEN):
            raise ValueError("a request line or header holds a line break or NUL")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection(asyncio.Protocol):
    """One upstream connection and its parser; the parser lives as long as it does."""

    def __init__(self, pool: HttptoolsUpstream) -> None:
        self._pool = pool
        self.loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self.idle_until: float | None = None   # in the pool's idle list until then
        # The read timeout: one timer, moved on lazily (not one per wait for bytes).
        self._read_timer: asyncio.TimerHandle | None = None
        self._read_deadline = 0.0
        self._writing_paused = False
        self._reading_paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[str, str]] = []
        self._header_name = b""
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.failure: _FailureKind | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self._length_known = False
        self.ends_at_close = False
        self.close_requested = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.fail(UpstreamDropped)

    def eof_received(self) -> bool | None:
        return None             # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_read_timer()
        if self.idle_until is not None:
            self.idle_until = None
            self._pool._forget(self)
        if not self.done and self.failure is None:
            if self.head_done and self.ends_at_close and exc is None:
                self.done = True                    # a body that ends with the connection
            else:
                self.failure = UpstreamDropped
        self._wake()
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name.decode("latin-1"), value.decode("latin-1")))
        lower = name.lower()
        if lower in (b"content-length", b"transfer-encoding"):
            self._length_known = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:         # informational: the real answer follows
            self.raw_headers = []
            self._length_known = False
            return
        self.status = status
        self.head_done = True
        self.ends_at_close = not self._length_known and status not in (204, 304)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > BUFFER_HIGH and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done:          # the end of a 1xx
            return
        self.done = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    # the reply's side
    def take(self) -> bytes:
        """Every body byte that has arrived and not yet been taken, as one chunk: the pieces
        one read from the socket held (a chunked body's chunks, several SSE events) go on
        together, in one send to the client."""
        chunks = self.chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self._reading_paused and self.transport:
            self._reading_paused = False
            self.transport.resume_reading()
        return chunk

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    async def wait(self) -> None:
        """Until the parser has news; no byte within the read timeout is a timeout."""
        if self.failure is not None:
            raise self.failure()
        loop = self.loop
        self._waiter = loop.create_future()
        self._read_deadline = loop.time() + self._pool.read_timeout
        if self._read_timer is None:
            self._read_timer = loop.call_at(self._read_deadline, self._read_timer_due)
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self.failure is not None and not self.chunks:
            raise self.failure()

    def _read_timer_due(self) -> None:
        """The read timer of an earlier wait: a timeout if the current wait is past its own
        deadline; else it is set again for that deadline (or dropped when nothing waits). It
        stays set while the connection is idle in the pool: the next exchange only moves the
        deadline."""
        self._read_timer = None
        if self._waiter is None or self._waiter.done() or self.closed:
            return
        if self.loop.time() >= self._read_deadline:
            self.fail(UpstreamTimeout)
        else:
            self._read_timer = self.loop.call_at(self._read_deadline, self._read_timer_due)

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def send(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise UpstreamDropped()
        self.transport.write(data)

    def send_parts(self, head: bytes, body: bytes) -> None:
        """`send(head + body)` without making that copy."""
        if self.closed or self.transport is None:
            raise UpstreamDropped()
        self.transport.writelines((head, body))

    async def drain(self) -> None:
        if self.closed:
            raise UpstreamDropped()
        if not self._writing_paused:
            return
        self._drain = self.loop.create_future()
        try:
            async with asyncio.timeout(self._pool.read_timeout):
                await self._drain
        except TimeoutError:
            self.fail(UpstreamTimeout)
            raise UpstreamTimeout() from None
        finally:
            self._drain = None
        if self.closed:
            raise UpstreamDropped()

    def fail(self, kind: _FailureKind) -> None:
        if self.failure is None:
            self.failure = kind
        self.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # the pool's side
    def begin(self) -> None:
        self._reset()

    def reusable(self) -> bool:
        return (not self.closed and self.done and self.keep_alive and self.failure is None
                and not self.close_requested and not self._reading_paused)

    def leave_idle(self) -> None:
        self.idle_until = None

    def abort(self) -> None:
        self.closed = True
        self._stop_read_timer()
        if self.transport is not None:
            self.transport.abort()


class HttptoolsReply:
    """One request's context manager and, once entered, its reply (`zdr.ports.UpstreamReply`)."""

    __slots__ = ("_body", "_connection", "_headers", "_method", "_pool", "_target", "_writer",
                 "headers", "status")

    def __init__(self, pool: HttptoolsUpstream, method: str, target: str,
                 headers: Mapping[str, str], body: UpstreamBody) -> None:
        self._pool, self._method, self._target = pool, method, target
        self._headers, self._body = headers, body
        self._connection: _Connection | None = None
        self._writer: asyncio.Task[None] | None = None
        self.status = 0
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict())

    async def __aenter__(self) -> Self:
        head = self._pool._head(self._method, self._target, self._headers, self._body)
        connection = await self._pool._acquire()
        self._connection = connection
        try:
            connection.begin()
            connection.close_requested = any(
                name.lower() == "connection" and "close" in value.lower()
                for name, value in self._headers.items())
            body = self._body
            if isinstance(body, bytes) and len(body) >= SEPARATE_BODY_BYTES:
                connection.send_parts(head, body)
            elif isinstance(body, bytes | bytearray):
                connection.send(head + bytes(body))
            else:
                connection.send(head)
                self._writer = asyncio.get_running_loop().create_task(
                    _write_chunked(connection, body))
            while not connection.head_done:
                await connection.wait()
        except UpstreamError:
            self._abandon()
            writer = self._writer
            if writer is not None and writer.done() and not writer.cancelled():
                raise self._writer_failure() from None
            raise
        except BaseException:
            self._abandon()
            raise
        self.status = connection.status
        self.headers = CIMultiDictProxy(CIMultiDict(connection.raw_headers))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        connection, writer = self._connection, self._writer
        assert connection is not None
        if writer is not None and not writer.done():
            self._abandon()     # the answer came first (or the block was left): stop sending
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            return
        if writer is not None and not writer.cancelled() and writer.exception() is not None:
            self._abandon()
            raise self._writer_failure() from None
        if exc_type is not None or not connection.done:
            connection.abort()   # unfinished: never reused, the upstream stops generating
        else:
            self._pool._release(connection)

    def _writer_failure(self) -> BaseException:
        """What to raise for a request body that could not be sent: the error tree's member,
        or the body source's own exception (the caller's, as aiohttp lets it through)."""
        error = self._writer.exception() if self._writer is not None else None
        if error is None or isinstance(error, OSError):
            return UpstreamDropped()
        return error

    def _abandon(self) -> None:
        if self._connection is not None:
            self._connection.abort()
        writer = self._writer
        if writer is not None:
            if writer.done():
                if not writer.cancelled():
                    writer.exception()      # retrieved: the reply's failure is the one raised
            else:
                writer.cancel()

    def chunks(self) -> _Chunks:
        assert self._connection is not None
        return _Chunks(self._connection)

    @property
    def ended(self) -> bool:
        connection = self._connection
        return connection is not None and connection.done and not connection.chunks

    async def read(self) -> bytes:
        """The whole body (as `chunks()` would give it, without a coroutine per chunk)."""
        connection = self._connection
        assert connection is not None
        parts: list[bytes] = []
        while True:
            while connection.chunks:
                parts.append(connection.take())
            if connection.done:
                return b"".join(parts)
            await connection.wait()


class _Chunks:
    """The body as it arrives: at each wake-up, all that arrived since the last (no copy when
    that is one piece); never waits for more than is there."""

    __slots__ = ("_connection",)

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        while True:
            if connection.chunks:
                return connection.take()
            if connection.done:
                raise StopAsyncIteration
            await connection.wait()


async def _write_chunked(connection: _Connection, body: AsyncIterable[bytes]) -> None:
    """The body, chunked; a failure (the connection's or the source's) ends the exchange."""
    try:
        async for part in body:
            if part:
                connection.send(b"%x\r\n%b\r\n" % (len(part), part))
                await connection.drain()
        connection.send(b"0\r\n\r\n")
    except Exception:
        connection.fail(UpstreamDropped)
        raise
