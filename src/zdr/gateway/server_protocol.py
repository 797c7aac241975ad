"""The HTTP/1.1 protocol `zdr serve` runs: uvicorn's httptools protocol with a bound on each
request's head (request line and headers) while it arrives.

llhttp (httptools) sets no limit of its own: a client could make a worker buffer a 20 MB header
before the app is called. This protocol counts the bytes of a request's head as they come and,
past `max_head_bytes`, answers the gateway's own 431 (`request_too_large`, in the API's error
format, `zdr.gateway.header_limits`) and closes the connection, keeping nothing of it. The close
lingers (`LINGER_SECONDS`): the server stops sending, then drops whatever the client still sends
until it stops or the time is up, so the client reads the answer instead of a connection reset
(closing a socket with unread input resets it, and the reset discards the answer).

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

from zdr.gateway.header_limits import TOO_LARGE_STATUS, TOO_LARGE_TYPE, HeaderLimits
from zdr.gateway.responses import error_payload, new_request_id

PROTOCOL = "zdr.gateway.server_protocol:BoundedHeadProtocol"
REQUEST_LINE_BYTES = 16 * 1024
LINGER_SECONDS = 2.0


class BoundedHeadProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that refuses a request head longer than `max_head_bytes`.

    The count starts with each request and stops when its headers are complete; the bytes of a
    pipelined request that share a read with the previous request's end are not counted, so a
    head may exceed the bound by at most one read before it is refused.
    """

    limits: ClassVar[HeaderLimits] = HeaderLimits(32 * 1024, 100)
    max_head_bytes: ClassVar[int] = limits.max_bytes + REQUEST_LINE_BYTES
    _head_left: int | None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_left = self.max_head_bytes
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        if self._head_left is None:
            self._head_left = self.max_head_bytes
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_left = None
        super().on_headers_complete()

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
        if self.transport.is_closing():
            return
        if self._head_left is not None:
            self._refuse()
            return
        super().data_received(data[left:])

    def _refuse(self) -> None:
        request_id = new_request_id()
        body = error_payload(TOO_LARGE_TYPE, self.limits.message, request_id)
        head = (f"HTTP/1.1 {TOO_LARGE_STATUS} Request Header Fields Too Large\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                f"request-id: {request_id}\r\nzdr-retention: none\r\n"
                "connection: close\r\n\r\n").encode("ascii")
        self._refused = True
        transport = self.transport
        transport.write(head + body)
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()


def configure(limits: HeaderLimits) -> None:
    """Set this process's bound from the configured header limits."""
    BoundedHeadProtocol.limits = limits
    BoundedHeadProtocol.max_head_bytes = limits.max_bytes + REQUEST_LINE_BYTES
