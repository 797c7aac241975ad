"""The `Upstream` port over HTTP with aiohttp's client: what `zdr serve` uses, one keep-alive pool
per worker.

Every aiohttp exception, and every timeout, is translated here and nowhere else into the error
tree (`zdr.errors.UpstreamError`): on sending the request, on reading the body, and on leaving
the reply's block. The exception's text is never used: it may carry URLs or bytes of the
exchange.

The target is sent byte for byte (`yarl.URL(..., encoded=True)`: no normalisation). The body is
handed over as aiohttp reads it: `chunks()` awaits the connection buffer's `readany()` once per
chunk, as aiohttp's own `iter_any()` does, and copies nothing (bench/compare.py, `stream:16`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

import aiohttp
from yarl import URL

from zdr.errors import UpstreamDropped, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from zdr.ports import UpstreamBody

CLIENT_ERRORS = (aiohttp.ClientError, TimeoutError)


def translated(error: BaseException) -> UpstreamError:
    """The error tree's name for an HTTP-client failure (its text is not kept)."""
    if isinstance(error, TimeoutError):    # aiohttp's ServerTimeoutError (connect, read) too
        return UpstreamTimeout()
    if isinstance(error, aiohttp.ClientConnectorError):
        return UpstreamUnreachable()
    return UpstreamDropped()


class AiohttpUpstream:
    """The upstream at `base_url` (its path prefix kept); `read_timeout` bounds each wait for
    bytes, not the whole exchange (a stream may last minutes)."""

    def __init__(self, base_url: str, *, read_timeout: float,
                 connect_timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._open()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def request(self, method: str, target: str, headers: Mapping[str, str],
                body: UpstreamBody) -> AiohttpReply:
        return AiohttpReply(self._session or self._open(), method,
                            URL(self.base_url + target, encoded=True), headers, body)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0, ttl_dns_cache=300)
            # No Accept-Encoding is sent, so bodies arrive as they are relayed (no decompression).
            # No cookie jar: a cookie the upstream sets on one org's request (its CDN does) must
            # never ride along on another org's.
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session


class AiohttpReply:
    """One request's context manager and, once entered, its reply (`zdr.ports.UpstreamReply`)."""

    __slots__ = ("_body", "_headers", "_method", "_response", "_session", "_url", "headers",
                 "status")

    def __init__(self, session: aiohttp.ClientSession, method: str, url: URL,
                 headers: Mapping[str, str], body: UpstreamBody) -> None:
        self._session, self._method, self._url = session, method, url
        self._headers, self._body = headers, body
        self.status = 0
        self.headers: Mapping[str, str] = {}

    async def __aenter__(self) -> Self:
        try:
            response = await self._session.request(
                self._method, self._url, data=self._body or None, headers=self._headers)
        except CLIENT_ERRORS as error:
            raise translated(error) from None
        self._response = response
        self.status = response.status
        self.headers = response.headers
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        # As aiohttp's own context manager: a body not read to its end closes the connection.
        response = self._response
        response.release()
        try:
            await response.wait_for_close()     # the request body's writer, if still running
        except CLIENT_ERRORS as error:
            raise translated(error) from None

    def chunks(self) -> _Chunks:
        return _Chunks(self._response.content)

    @property
    def ended(self) -> bool:
        return self._response.content.at_eof()

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except CLIENT_ERRORS as error:
            raise translated(error) from None


class _Chunks:
    """aiohttp's `iter_any()`, with its errors translated: one await per chunk, as there."""

    __slots__ = ("_content",)

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self._content = content

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._content.readany()
        except CLIENT_ERRORS as error:
            raise translated(error) from None
        if not chunk:
            raise StopAsyncIteration
        return chunk
