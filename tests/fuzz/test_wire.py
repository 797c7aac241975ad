"""Bad bytes on the wire, against the gateway under uvicorn (as `zdr serve` runs it): malformed
request lines, header injection and folding, NUL bytes, contradictory framing (request smuggling).
Each gets a 4xx or a closed connection — never a 2xx or a 5xx; its canary reaches neither the
answer nor the logs; nothing is kept; and the gateway still serves the next good request."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from strict_upstream import StrictUpstream

from zdr.testing.harness import GatewayHarness

CANARY = "WIRECANARY-3d9f0a7c55e1"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with StrictUpstream() as upstream, GatewayHarness(
            tmp_path_factory.mktemp("wire") / "home", upstream.url) as gateway:
        gateway.key = gateway.directory.create_key("wire-zdr", zdr=True)[0]
        yield gateway


def exchange(port: int, raw: bytes, half_close: bool = True) -> bytes:
    """Send `raw`, then read until the server closes (or 5 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def body(key: str) -> bytes:
    return orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 8,
                         "messages": [{"role": "user", "content": f"hi {CANARY}"}]})


CASES = {
    "garbage request line": lambda key: f"GARBAGE {CANARY}\r\n\r\n".encode(),
    "NUL in a header": lambda key: (f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}"
                                    f"\x00{CANARY}\r\nContent-Length: 2\r\n\r\n{{}}").encode(),
    "CRLF injected in a value": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-note: a\rx-api-key: {key}\r\n"
        f"Content-Length: 2\r\n\r\n{{}}{CANARY}").encode(),
    "obsolete line folding": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: bogus\r\n {key}\r\n"
        f"Content-Length: 2\r\n\r\n{{}}{CANARY}").encode(),
    "content-length and chunked": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{CANARY}").encode(),
    "two content-lengths": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nContent-Length: 2\r\n"
        f"Content-Length: 60\r\n\r\n{{}}{CANARY}").encode(),
    "negative content-length": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
        f"Content-Length: -5\r\n\r\n{CANARY}").encode(),
    "bad chunk size": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
        f"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{CANARY}\r\n0\r\n\r\n").encode(),
    "truncated body": lambda key: (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
        f"Content-Length: 5000\r\n\r\n{{\"messages\": \"{CANARY}").encode(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_bytes_on_the_wire(harness: Any, case: str) -> None:
    answer = exchange(harness.port, CASES[case](harness.key))
    statuses = [int(line.split()[1]) for line in answer.split(b"\r\n")
                if line.startswith(b"HTTP/1.1 ")]
    assert all(400 <= status < 500 for status in statuses), (case, statuses)
    assert CANARY.encode() not in answer
    assert CANARY not in harness.logs.text()
    assert harness.sink.retained == []
    good = exchange(harness.port, (
        f"POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\nx-api-key: {harness.key}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
        f"Content-Length: {len(body(harness.key))}\r\n\r\n").encode() + body(harness.key),
        half_close=False)
    assert good.startswith(b"HTTP/1.1 ")                # still serving after the bad bytes


def test_no_wire_case_reaches_the_store(harness: Any) -> None:
    assert all(CANARY not in str(meta) for meta in harness.sink.metadata)
