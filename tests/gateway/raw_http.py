"""Raw-socket helpers for the HTTP protocol tests: a connection to a served app, a request's
bytes, and reading what the server sends until it closes."""

from __future__ import annotations

import socket
import time

from zdr.testing.servers import UvicornThread


def connect(server: UvicornThread, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    """A POST request's bytes: `extra` holds more header lines, each ending in CRLF."""
    return (b"POST %b HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n%b\r\n%b"
            % (path.encode(), len(body), extra, body))


def read_all(sock: socket.socket, until: bytes | None = None, timeout: float = 10) -> bytes:
    """Everything until the peer closes (or `until` is seen, or the time is up)."""
    sock.settimeout(timeout)
    data = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            more = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not more:
            break
        data += more
        if until is not None and until in data:
            break
    return bytes(data)
