"""The HTTP/1.1 protocol `zdr serve` runs: one `asyncio.Protocol` per connection on uvloop,
requests parsed by httptools (llhttp), the gateway's ASGI app called with a small scope.

uvicorn still runs the process (bind, workers, lifespan, signals, graceful shutdown); only its
per-connection protocol is replaced (`PROTOCOL`), which takes less CPU per request than
uvicorn's (bench/README.md, "ceiling.py"). It keeps every promise of the bounded protocol it
replaces (`zdr.gateway.server_protocol`, still selectable with `ZDR_HTTP_PROTOCOL=uvicorn`):

- A request's head (request line and headers) is counted while it arrives; past
  `max_head_bytes` the client gets the gateway's 431 (`request_too_large`, API error format)
  before the app is called, and nothing of the request is kept.
- Whatever llhttp refuses — a bad request line, method, version or header byte, obs-fold, both
  `Transfer-Encoding` and `Content-Length`, duplicate `Content-Length`, a broken chunked body —
  is answered `400 invalid_request_error` in the API's format with a fixed message.
- A head must be complete within `head_timeout` seconds of its first byte (or of the connection,
  for the first request), else `408 timeout_error`.
- After any of those answers the close lingers (`LINGER_SECONDS`), so the client reads the
  answer instead of a connection reset.
- Only a request ends the keep-alive wait: CRLFs between requests do not, and the dropped rest
  of an answered request's body holds the connection only while it keeps arriving.
- An answer sent before `100 Continue` (the app did not ask for the body) says
  `connection: close` and the close lingers: the client may never send the body, so nothing it
  sends next can be framed.

No deadline covers a request body once its head is complete (nor does uvicorn's): a client
trickling a body holds its connection and the app waiting on `receive()`; a client that
half-closes (`shutdown(SHUT_WR)`) is taken as gone (`http.disconnect`), as uvicorn and nginx take
it. Pipelined requests parsed from one read wait in memory (about 0.5 KB each), at most
`PIPELINE_DEPTH` of them: past that, those waiting are answered and the connection closes.

HTTP behaviour kept from uvicorn's protocol: keep-alive (closed after `timeout_keep_alive` idle
seconds), HTTP/1.0 and `Connection: close`, pipelined requests answered in order (reading pauses
while one waits), `Expect: 100-continue` (sent on the app's first `receive()`), request bodies
delivered as they arrive (reading pauses past `BODY_HIGH_WATER` unread bytes), responses framed
by the app's `content-length` or chunked, `write` flow control (`send()` waits while the
transport is paused), a client that hangs up seen by the app as `http.disconnect` (writes after
it are dropped), the path percent-decoded as uvicorn does, `date`/`server` headers, graceful
shutdown (`shutdown()`: idle connections close, busy ones after their response).
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
import urllib.parse
from collections import deque
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from zdr.gateway.header_limits import TOO_LARGE_STATUS, TOO_LARGE_TYPE, HeaderLimits
from zdr.gateway.responses import error_payload, new_request_id

PROTOCOL = "zdr.gateway.http_server:GatewayHttpProtocol"
REQUEST_LINE_BYTES = 16 * 1024
LINGER_SECONDS = 2.0
HEAD_TIMEOUT_SECONDS = 30.0
BODY_HIGH_WATER = 64 * 1024
PIPELINE_DEPTH = 1000       # requests parsed from one read that may wait behind a running one
MALFORMED = ("The request is not valid HTTP/1.1 (request line, header or chunked body); send a "
             "well-formed request with an ASCII, percent-encoded path.")
HEAD_TIMEOUT = "The request head was not received in time; send the whole head at once."
SERVER_ERROR = "The gateway failed to answer this request; retry it."
HEADER_NAME_FORBIDDEN = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
HEADER_VALUE_FORBIDDEN = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LOGGER = logging.getLogger("uvicorn.error")


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


def error_answer(status: int, error_type: str, message: str) -> bytes:
    """A whole response in the API's error format that closes the connection (either protocol's
    refusals: 400, 408, 431)."""
    request_id = new_request_id()
    body = error_payload(error_type, message, request_id)
    return (STATUS_LINES[status]
            + (f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
               f"request-id: {request_id}\r\nzdr-retention: none\r\n"
               "connection: close\r\n\r\n").encode("ascii")
            + body)


class Exchange:
    """One request and its response: the ASGI `receive` and `send` of one app call."""

    __slots__ = ("_waiter", "body", "chunked", "conn", "disconnected", "event", "expect_continue",
                 "head", "head_handle", "keep_alive", "left", "more_body", "response_complete",
                 "response_started", "scope", "size")

    def __init__(self, conn: GatewayHttpProtocol, scope: dict[str, Any], keep_alive: bool,
                 expect_continue: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.body: list[bytes] = []
        self.size = 0               # bytes in `body`
        self.more_body = True
        self.event = False          # news for `receive()`: body bytes, the body's end, a hang-up
        self._waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.chunked = False
        self.left = 0               # body bytes still owed under the app's content-length
        self.head = b""             # the response head, written with the first body bytes
        self.head_handle: asyncio.Handle | None = None

    def notify(self) -> None:
        self.event = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        while not self.event:
            self._waiter = self.conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self.event = False

    async def run(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:  # noqa: BLE001 - answered, closed, logged by type
            # by type only: an exception's message or traceback text may quote the request
            LOGGER.error("Exception in ASGI application: %s", type(exc).__name__)
            if not self.response_started:
                self.conn.answer_and_close(500, "api_error", SERVER_ERROR)
            else:
                self.conn.transport.close()
        else:
            if not self.response_started and not self.disconnected:
                LOGGER.error("ASGI callable returned without starting response.")
                self.conn.answer_and_close(500, "api_error", SERVER_ERROR)
            elif not self.response_complete and not self.disconnected:
                LOGGER.error("ASGI callable returned without completing response.")
                self.conn.transport.close()

    # ASGI
    async def receive(self) -> dict[str, Any]:
        conn = self.conn
        if self.expect_continue:
            self.expect_continue = False
            if not conn.transport.is_closing():
                conn.transport.write(CONTINUE)
        if not self.disconnected and not self.response_complete:
            conn.resume_reading()
            await self._wait()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        body = self.body
        chunk = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        self.size = 0
        return {"type": "http.request", "body": chunk, "more_body": self.more_body}

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected 'http.response.start', but got {kind!r}.")
            self._start(message["status"], message.get("headers", ()))
        elif not self.response_complete:
            if kind != "http.response.body":
                raise RuntimeError(f"Expected 'http.response.body', but got {kind!r}.")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} after the response completed.")

    def _start(self, status: int, headers: Any) -> None:
        self.response_started = True
        if self.expect_continue and self.more_body:
            # Answered before `100 Continue`: the client may never send the body, so its next
            # bytes cannot be framed; the connection closes after this response.
            self.keep_alive = False
        self.expect_continue = False
        content = [STATUS_LINES[status]]
        for name, value in self.conn.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        names = []
        values = []
        framed = False
        close = False
        for name, value in headers:
            name = name.lower()
            names.append(name)
            values.append(value)
            if name == b"content-length":
                if not framed:
                    self.left = int(value.decode())
                    framed = True
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.left = 0
                self.chunked = framed = True
            elif name == b"connection" and b"close" in [
                    token.lower().strip() for token in value.split(b",")]:
                self.keep_alive = False
                close = True
            content += (name, b": ", value, b"\r\n")
        if HEADER_NAME_FORBIDDEN.search(b"".join(names)) or b"" in names:
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_FORBIDDEN.search(b"".join(values)):
            raise RuntimeError("Invalid HTTP header value.")
        if not self.keep_alive and not close:
            content.append(b"connection: close\r\n")
        if not framed and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        # Held until the first body bytes (one write for both), or the next loop turn.
        self.head = b"".join(content)
        self.head_handle = self.conn.loop.call_soon(self._flush_head)

    def _flush_head(self) -> None:
        self.head_handle = None
        head = self.head
        if head:
            self.head = b""
            self.conn.write(head)

    def _body(self, body: bytes, more_body: bool) -> None:
        if self.scope["method"] == "HEAD":
            self.left = 0
            out = b""
        elif self.chunked:
            out = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more_body:
                out += b"0\r\n\r\n"
        else:
            if len(body) > self.left:
                raise RuntimeError("Response content longer than Content-Length")
            self.left -= len(body)
            out = body
        if self.head:
            out = self.head + out
            self.head = b""
            if self.head_handle is not None:
                self.head_handle.cancel()
                self.head_handle = None
        if out:
            self.conn.write(out)
        if not more_body:
            if self.left:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.notify()
            self.conn.response_complete(self)


class GatewayHttpProtocol(asyncio.Protocol):
    """One client connection (uvicorn creates one per accepted socket)."""

    limits: ClassVar[HeaderLimits] = HeaderLimits(32 * 1024, 100)
    max_head_bytes: ClassVar[int] = limits.max_bytes + REQUEST_LINE_BYTES
    head_timeout: ClassVar[float] = HEAD_TIMEOUT_SECONDS

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.app_state = app_state
        self.root_path = config.root_path
        self.keep_alive_seconds = config.timeout_keep_alive
        self.parser = httptools.HttpRequestParser(self)
        # Answer the first of pipelined requests after a `Connection: close` one (as uvicorn).
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.scheme = "http"
        self.pipeline: deque[Exchange] = deque()
        self.exchange: Exchange | None = None     # the one whose request bytes are being parsed
        self.running: Exchange | None = None      # the one the app is serving
        self.read_paused = False
        self.write_paused = False
        self._drain: asyncio.Future[None] | None = None
        # One watchdog timer per connection for both deadlines (no timer per request): a head
        # begun at `_head_since` must end within `head_timeout`; idle since `_idle_since`, the
        # connection closes after `keep_alive_seconds`.
        self._head_since: float | None = None
        self._idle_since: float | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._watch_at = 0.0
        self._head_left: int | None = self.max_head_bytes
        self._refused = False
        self._deaf = False         # after an upgrade request: nothing more is read
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_continue = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self.transport = transport  # type: ignore[assignment]
        self.server = get_local_addr(self.transport)
        self.client = get_remote_addr(self.transport)
        self.scheme = "https" if is_ssl(self.transport) else "http"
        self._head_since = now = self.loop.time()     # the first head: from the connection
        self._watch_until(now + self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self._stop_watch()
        for exchange in (self.running, *self.pipeline):
            if exchange is not None:
                if not exchange.response_complete:
                    exchange.disconnected = True
                exchange.notify()
        self.pipeline.clear()
        self._wake_drain()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        if self._refused or self._deaf:
            return                                  # lingering after a refusal: dropped unread
        left = self._head_left
        if left is None or len(data) <= left:
            if left is not None:
                self._head_left = left - len(data)
            self._feed(data)
            return
        self._head_left = 0
        self._feed(data[:left])                     # the head may end within the allowance
        if self._refused or self._deaf or self.transport.is_closing():
            return
        if self._head_left == 0:                    # the same head went past the allowance
            self._refuse(TOO_LARGE_STATUS, TOO_LARGE_TYPE, self.limits.message)
            return
        if self._head_left is not None:             # a pipelined head began: count the rest
            self.data_received(data[left:])
            return
        self._feed(data[left:])

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade_refused()
        except httptools.HttpParserError:
            self._malformed()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._idle_since = None     # only a request ends the idle wait (not a CRLF between them)
        self._url = b""
        self._headers = []
        self._expect_continue = False
        if self._head_left is None:
            self._head_left = self.max_head_bytes
        if self._head_since is None:
            self._head_since = now = self.loop.time()
            self._watch_until(now + self.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        value = value.rstrip(b" \t")   # llhttp keeps trailing whitespace (RFC 9110 §5.5)
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_left = None
        self._head_since = None
        if len(self.pipeline) >= PIPELINE_DEPTH:
            self._overflow()
            return
        parser = self.parser
        version = parser.get_http_version()
        url = httptools.parse_url(self._url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        root = self.root_path
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": root,
            "path": root + path if root else path,
            "raw_path": root.encode("ascii") + raw_path if root else raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
            "state": self.app_state.copy(),
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        exchange = Exchange(self, scope, keep_alive, self._expect_continue)
        self.exchange = exchange
        running = self.running
        if running is None or running.response_complete:
            self._start(exchange)
        else:
            self._pause_reading()                     # pipelined: in order, one at a time
            self.pipeline.append(exchange)

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.response_complete:
            if self._idle_since is not None:          # the body of an answered request, dropped
                self._idle_since = self.loop.time()
            return
        exchange.body.append(body)
        exchange.size += len(body)
        if exchange.size > BODY_HIGH_WATER and exchange is self.running:
            self._pause_reading()
        exchange.notify()

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or exchange.response_complete:
            return
        exchange.more_body = False
        exchange.notify()

    # serving
    def _start(self, exchange: Exchange) -> None:
        self.running = exchange
        task = self.loop.create_task(exchange.run(self.app))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def response_complete(self, exchange: Exchange) -> None:
        """The response's last bytes are written: the next pipelined request, or the wait for
        one (the app may still be running: what it does after its response is its own)."""
        self.server_state.total_requests += 1
        if not exchange.keep_alive:
            if exchange.more_body or self._deaf:      # the client's bytes are left unread
                self._close_lingering()
                return
            self.transport.close()
        if self._refused or self.transport.is_closing():
            return
        self.resume_reading()
        if self.pipeline:
            self._start(self.pipeline.popleft())
        elif self._head_left is None:                 # no next head begun: the idle wait
            self._idle_since = now = self.loop.time()
            self._watch_until(now + self.keep_alive_seconds)

    def write(self, data: bytes) -> None:
        if not self._refused and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        while self.write_paused and not self.transport.is_closing():
            if self._drain is None:                   # one future for every waiting writer
                self._drain = self.loop.create_future()
            await self._drain

    def _wake_drain(self) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)
        self._drain = None

    def resume_reading(self) -> None:
        if self.read_paused and not self.pipeline:
            self.read_paused = False
            self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now if idle, else after the current response."""
        running = self.running
        if running is None or running.response_complete:
            self.transport.close()
        else:
            running.keep_alive = False

    # deadlines
    def _watch_until(self, deadline: float) -> None:
        """Make sure the watchdog runs by `deadline` (an earlier run re-arms itself)."""
        if self._watch is not None:
            if self._watch_at <= deadline:
                return
            self._watch.cancel()
        self._watch_at = deadline
        self._watch = self.loop.call_at(deadline, self._check_deadlines)

    def _stop_watch(self) -> None:
        self._head_since = self._idle_since = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _check_deadlines(self) -> None:
        self._watch = None
        if self._refused or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._head_since is not None:
            deadline = self._head_since + self.head_timeout
            if now < deadline:
                self._watch_until(deadline)
            elif self.running is not None and not self.running.response_complete:
                self._watch_until(now + self.head_timeout)   # a pipelined head waits: later
            else:
                self.answer_and_close(408, "timeout_error", HEAD_TIMEOUT)
                return
        if self._idle_since is not None:
            deadline = self._idle_since + self.keep_alive_seconds
            if now < deadline:
                self._watch_until(deadline)
            else:
                self.transport.close()

    # refusals
    def _malformed(self) -> None:
        """llhttp refused the bytes: 400."""
        self._refuse(400, "invalid_request_error", MALFORMED)

    def _refuse(self, status: int, error_type: str, message: str) -> None:
        """Refuse what the client sent (a broken request, a head too large): a request still
        being answered is a disconnect to the app (its answer is dropped), and the client gets
        this answer unless a response has begun (its bytes are never cut into)."""
        for exchange in (self.running, self.exchange):
            if exchange is not None and not exchange.response_complete:
                if exchange.response_started:
                    exchange.disconnected = True
                    exchange.notify()
                    self.transport.close()   # mid-response: nothing can be said in the API format
                    return
                exchange.disconnected = True
                exchange.notify()
        self.answer_and_close(status, error_type, message)

    def _upgrade_refused(self) -> None:
        """`Connection: upgrade` (no protocol here to switch to): llhttp stops parsing after the
        head. A request whose body is complete is served and the connection then closes;
        otherwise the framing cannot be trusted: 400."""
        exchange = self.exchange
        if exchange is not None and not exchange.more_body:
            exchange.keep_alive = False
            self._deaf = True        # nothing more is read from this connection
            return
        self._malformed()

    def _overflow(self) -> None:
        """More than `PIPELINE_DEPTH` requests in one read wait behind a running one: those
        waiting are answered and the connection then closes; nothing more is parsed or kept (a
        read of tiny requests would otherwise hold thousands of them in memory)."""
        self.exchange = None
        self.pipeline[-1].keep_alive = False
        self._deaf = True

    def answer_and_close(self, status: int, error_type: str, message: str) -> None:
        """Answer in the API's error format, then close, lingering so the client reads it."""
        if self._refused:                             # answered already: one answer a connection
            return
        if not self.transport.is_closing():
            self.transport.write(error_answer(status, error_type, message))
        self._close_lingering()

    def _close_lingering(self) -> None:
        """Stop reading and sending, then close after `LINGER_SECONDS`: what the client still
        sends is dropped unread, and it reads the answer instead of a connection reset."""
        self._stop_watch()
        self._refused = True
        transport = self.transport
        if transport.is_closing():
            return
        if self.read_paused:                          # read and drop, so the close is no reset
            self.read_paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()


def configure(limits: HeaderLimits, head_timeout: float = HEAD_TIMEOUT_SECONDS) -> None:
    """Set this process's bounds from the configured header limits and head timeout."""
    GatewayHttpProtocol.limits = limits
    GatewayHttpProtocol.max_head_bytes = limits.max_bytes + REQUEST_LINE_BYTES
    GatewayHttpProtocol.head_timeout = head_timeout
