"""The HTTP/1.1 protocol `zdr serve` runs with `http_protocol = "uvicorn"` (the default is the
gateway's own, `zdr.gateway.http_server`, which keeps the same promises): uvicorn's httptools
protocol with a bound on each request's head (request line and headers) while it arrives.

llhttp (httptools) sets no limit of its own: a client could make a worker buffer a 20 MB header
before the app is called. This protocol counts the bytes of a request's head as they come and,
past `max_head_bytes`, answers the gateway's own 431 (`request_too_large`, in the API's error
format, `zdr.gateway.header_limits`) and closes the connection, keeping nothing of it. The close
lingers (`LINGER_SECONDS`): the server stops sending, then drops whatever the client still sends
until it stops or the time is up, so the client reads the answer instead of a connection reset
(closing a socket with unread input resets it, and the reset discards the answer).

Whatever else llhttp refuses — a NUL, control or non-ASCII byte in the request line, a bad
method or version, an invalid header character, a broken chunked body, both `Transfer-Encoding`
and `Content-Length` — is answered `400 invalid_request_error` in the API's format (uvicorn's own
answer is plain text), with a fixed message that quotes nothing of the request, and the
connection closes the same way. A head must be complete within `head_timeout` seconds of its
first byte (or of the connection, for the first request): a client trickling a head, or opening
a connection and sending nothing, gets `408 timeout_error` and is closed, so it cannot hold a
worker's connection open (uvicorn's keep-alive timer covers only the wait between requests).

`max_head_bytes` is the configured header size plus `REQUEST_LINE_BYTES` for the request line,
so a request within the configured limits always reaches the app, which checks them exactly.
Each worker process sets it from its settings (`configure`, called by `zdr.wiring.build_app`);
uvicorn loads this class by name (`zdr serve` passes `PROTOCOL`), so worker processes started by
uvicorn find it too.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from zdr.gateway import http_server
from zdr.gateway.header_limits import TOO_LARGE_STATUS, TOO_LARGE_TYPE, HeaderLimits

PROTOCOL = "zdr.gateway.server_protocol:BoundedHeadProtocol"
REQUEST_LINE_BYTES = 16 * 1024
LINGER_SECONDS = 2.0
HEAD_TIMEOUT_SECONDS = 30.0
MALFORMED = ("The request is not valid HTTP/1.1 (request line, header or chunked body); send a "
             "well-formed request with an ASCII, percent-encoded path.")
HEAD_TIMEOUT = "The request head was not received in time; send the whole head at once."


class BoundedHeadProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that refuses a request head longer than `max_head_bytes`.

    The count starts with each request and stops when its headers are complete; the bytes of a
    pipelined request that share a read with the previous request's end are not counted, so a
    head may exceed the bound by at most one read before it is refused.
    """

    limits: ClassVar[HeaderLimits] = HeaderLimits(32 * 1024, 100)
    max_head_bytes: ClassVar[int] = limits.max_bytes + REQUEST_LINE_BYTES
    head_timeout: ClassVar[float] = HEAD_TIMEOUT_SECONDS
    _head_left: int | None
    _head_timer: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_left = self.max_head_bytes
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        if self._head_left is None:
            self._head_left = self.max_head_bytes
        self._arm_head_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_left = None
        self._cancel_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """llhttp refused the request (uvicorn's `msg` is its own, never the request's)."""
        self._cancel_head_timer()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A broken body under a running request: the app sees a disconnect (its answer is
            # dropped), and the client gets this one unless a response has already begun.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()  # mid-response: nothing can be said in the API format
                return
        self._answer(400, "invalid_request_error", MALFORMED)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self._refused:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused or self.transport.is_closing():
            return
        if self._responding():          # a pipelined head behind a running request: later
            self._arm_head_timer()
            return
        self._answer(408, "timeout_error", HEAD_TIMEOUT)

    def _responding(self) -> bool:
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return                              # lingering after a 431: dropped unread
        left = self._head_left
        if left is None or len(data) <= left:
            if left is not None:
                self._head_left = left - len(data)
            super().data_received(data)
            return
        self._head_left = 0
        super().data_received(data[:left])      # the head may end within the allowance
        if self._refused or self.transport.is_closing():
            return
        if self._head_left is not None:
            self._refuse()
            return
        super().data_received(data[left:])

    def _refuse(self) -> None:
        self._answer(TOO_LARGE_STATUS, TOO_LARGE_TYPE, self.limits.message)

    def _answer(self, status: int, error_type: str, message: str) -> None:
        """Answer in the API's error format, then close, lingering so the client reads it."""
        self._cancel_head_timer()
        self._refused = True
        transport = self.transport
        transport.write(http_server.error_answer(status, error_type, message))
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()


def protocol_named(name: str) -> str:
    """The protocol `zdr serve` runs for `http_protocol`: `zdr` (the gateway's own,
    `zdr.gateway.http_server`, the default) or `uvicorn` (this one)."""
    return PROTOCOL if name == "uvicorn" else http_server.PROTOCOL


def configure(limits: HeaderLimits, head_timeout: float = HEAD_TIMEOUT_SECONDS) -> None:
    """Set this process's bounds (of either protocol) from the configured header limits and
    head timeout."""
    http_server.configure(limits, head_timeout)
    BoundedHeadProtocol.limits = limits
    BoundedHeadProtocol.max_head_bytes = limits.max_bytes + REQUEST_LINE_BYTES
    BoundedHeadProtocol.head_timeout = head_timeout
