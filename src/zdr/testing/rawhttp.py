"""Send an HTTP/1.1 request whose target is exactly the given bytes, for tests.

HTTP clients normalise what they send (httpx and aiohttp resolve `..` segments, most refuse a NUL
or a backslash), so they cannot send the paths an attacker sends. `raw_request` writes the request
line as given, with `Connection: close`, and reads the whole answer (chunked or not).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> object:
        return orjson.loads(self.body)


def raw_request(
    port: int,
    method: str,
    target: bytes,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
) -> RawAnswer:
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"host: " + host.encode()]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    lines += [b"content-length: " + str(len(body)).encode(), b"connection: close"]
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return parse_answer(b"".join(chunks))


def parse_answer(data: bytes) -> RawAnswer:
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer = RawAnswer(int(status_line.split(" ")[1]))
    for line in header_lines:
        name, _, value = line.partition(":")
        answer.headers[name.strip().lower()] = value.strip()
    if answer.headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        answer.body = bytes(body)
    else:
        answer.body = rest
    return answer
