"""Upstream HTTP clients for the ceiling bench (bench/ceiling.py), behind one small interface.

`open(method, path, headers, body)` sends the request and returns an `Answer` once the upstream's
status line and headers are in: its `status`, `content_type`, `read_chunk()` (the next body bytes
as they arrive, `None` at the end) and `aclose()`, which returns a finished connection to the pool
and aborts an unfinished one (a client that hung up cancels the upstream request with it).

- `aiohttp`: aiohttp's `ClientSession` (the gateway's client today).
- `pyreqwest`: pyreqwest's async `Client` (Rust: reqwest + hyper on a Tokio runtime).
- `httptools`: a keep-alive connection pool written here: one `asyncio.Protocol` per connection,
  responses parsed by httptools (llhttp), body bytes handed over as they arrive.
- `httptools-fastnet`: the same pool on aiofastnet's transports (`aiofastnet.create_connection`).

Installed into bench/.venv-ceiling by bench/ceiling.py; the product does not depend on these.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from typing import Any, Protocol
from urllib.parse import urlsplit

Headers = list[tuple[bytes, bytes]]


class Answer(Protocol):
    status: int
    content_type: bytes

    async def read_chunk(self) -> bytes | None: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def open(self, method: str, path: str, headers: Headers, body: bytes) -> Answer: ...


# ---------------------------------------------------------------- aiohttp


class AiohttpAnswer:
    __slots__ = ("_response", "content_type", "status")

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status: int = response.status
        self.content_type = response.headers.get("content-type", "application/json").encode()

    async def read_chunk(self) -> bytes | None:
        chunk: bytes = await self._response.content.readany()
        return chunk or None

    async def aclose(self) -> None:
        if self._response.content.is_eof():
            self._response.release()
        else:
            self._response.close()  # drops the connection: the upstream sees the request end


class AiohttpUpstream:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session: Any = None

    async def open(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                self.base_url,
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
                timeout=aiohttp.ClientTimeout(total=600),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        response = await self._session.request(
            method, path, data=body, headers={k.decode(): v.decode() for k, v in headers}
        )
        return AiohttpAnswer(response)


# ---------------------------------------------------------------- pyreqwest


class PyreqwestAnswer:
    __slots__ = ("_reader", "_request", "content_type", "status")

    def __init__(self, request: Any, response: Any) -> None:
        self._request = request
        self._reader = response.body_reader
        self.status: int = response.status
        self.content_type = (response.get_header("content-type") or "application/json").encode()

    async def read_chunk(self) -> bytes | None:
        chunk = await self._reader.read_chunk()
        return None if chunk is None else bytes(chunk)

    async def aclose(self) -> None:
        await self._request.__aexit__(None, None, None)


# pyreqwest reads a streamed body ahead into a buffer of this many bytes (its default: 64 KiB) and
# hands over nothing before it is full or the body ends; 0 forwards each chunk as it arrives.
STREAM_BUFFER = int(os.environ.get("CEILING_PYREQWEST_BUFFER", "0"))


class PyreqwestUpstream:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client: Any = None

    async def open(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        if self._client is None:
            from pyreqwest.client import ClientBuilder

            self._client = (
                ClientBuilder()
                .gzip(False)
                .brotli(False)
                .zstd(False)
                .deflate(False)
                .follow_redirects(False)
                .http1_only()
                .tcp_nodelay(True)
                .build()
            )
        request = (
            self._client.request(method, self.base_url + path)
            .headers({k.decode(): v.decode() for k, v in headers})
            .body_bytes(body)
            .streamed_read_buffer_limit(STREAM_BUFFER)
            .build_streamed()
        )
        response = await request.__aenter__()
        return PyreqwestAnswer(request, response)


# ---------------------------------------------------------------- httptools pool


READ_TIMEOUT = 600.0  # seconds without a byte from the upstream; armed for every wait


class PooledConnection(asyncio.Protocol):
    """One upstream connection; one request at a time; the parser lives as long as it does."""

    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.content_type = b"application/json"
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.chunks: deque[bytes] = deque()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        import httptools

        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            self.abort()
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.done and self.error is None:
            self.error = exc or ConnectionResetError("the upstream closed the connection")
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.content_type = value

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._wake()

    def on_message_complete(self) -> None:
        self.done = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    # the pool's side
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until the parser has news; at most READ_TIMEOUT seconds (as the gateway's sock_read)."""
        self._waiter = self._loop.create_future()
        timer = self._loop.call_later(READ_TIMEOUT, self._time_out)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _time_out(self) -> None:
        self.error = TimeoutError("no bytes from the upstream within the read timeout")
        self.abort()
        self._wake()

    def send(self, request: bytes) -> None:
        self._reset()
        assert self.transport is not None
        self.transport.write(request)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class HttptoolsAnswer:
    __slots__ = ("_connection", "_pool", "content_type", "status")

    def __init__(self, pool: HttptoolsUpstream, connection: PooledConnection) -> None:
        self._pool = pool
        self._connection = connection
        self.status = connection.status
        self.content_type = connection.content_type

    async def read_chunk(self) -> bytes | None:
        connection = self._connection
        while True:
            chunks = connection.chunks
            if chunks:
                if len(chunks) == 1:
                    return chunks.popleft()
                out = b"".join(chunks)
                chunks.clear()
                return out
            if connection.done:
                return None
            if connection.error is not None:
                raise connection.error
            await connection.wait()

    async def aclose(self) -> None:
        connection = self._connection
        if connection.done and connection.keep_alive and not connection.closed:
            self._pool.idle.append(connection)
        else:
            connection.abort()


class HttptoolsUpstream:
    def __init__(self, base_url: str, *, fastnet: bool = False) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc.encode()
        self.fastnet = fastnet
        self.idle: list[PooledConnection] = []

    async def _connect(self) -> PooledConnection:
        loop = asyncio.get_running_loop()
        if self.fastnet:
            import aiofastnet

            _, protocol = await aiofastnet.create_connection(
                loop, PooledConnection, self.host, self.port
            )
        else:
            _, protocol = await loop.create_connection(PooledConnection, self.host, self.port)
        return protocol

    async def _acquire(self) -> PooledConnection:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                return connection
        return await self._connect()

    async def open(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        head = [
            f"{method} {path} HTTP/1.1\r\nhost: ".encode(),
            self.host_header,
            b"\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\n",
        ]
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
        head += (b"\r\n", body)
        request = b"".join(head)
        connection = await self._acquire()
        try:
            connection.send(request)
            while not connection.head_done:
                if connection.error is not None:
                    raise connection.error
                await connection.wait()
        except BaseException:
            connection.abort()
            raise
        return HttptoolsAnswer(self, connection)


def upstream_from_env() -> Upstream:
    """The client named by CEILING_CLIENT, pointed at CEILING_UPSTREAM."""
    base_url = os.environ.get("CEILING_UPSTREAM", "http://127.0.0.1:8788")
    name = os.environ.get("CEILING_CLIENT", "aiohttp")
    if name == "aiohttp":
        return AiohttpUpstream(base_url)
    if name == "pyreqwest":
        return PyreqwestUpstream(base_url)
    if name == "httptools":
        return HttptoolsUpstream(base_url)
    if name == "httptools-fastnet":
        return HttptoolsUpstream(base_url, fastnet=True)
    raise SystemExit(f"unknown CEILING_CLIENT {name!r}")
