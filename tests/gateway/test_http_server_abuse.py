"""`zdr serve`'s HTTP/1.1 protocol (`zdr.gateway.http_server`) under an attacker's hands, on the
wire with raw sockets against a served app: more smuggling shapes, an app that breaks HTTP in its
response (header injection, a body longer or shorter than its `content-length`, an exception, no
answer), connections held open with CRLFs, `Expect: 100-continue` answered before the body,
clients that hang up, half-close or never read, thousands of pipelined requests in one write, and
the request's content kept out of every log line. Where uvicorn's protocol (`http_protocol =
"uvicorn"`) promises the same, the test runs on both."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from raw_http import connect, post, read_all
from uvicorn.config import Config
from uvicorn.server import ServerState

from zdr.gateway import http_server, server_protocol
from zdr.gateway.server_protocol import protocol_named
from zdr.testing.servers import UvicornThread

CANARY = b"zdrcanaryabuse"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n"


class App:
    """Answers by path: `/refuse` without reading the body, `/inject` with a CR/LF in a header,
    `/longer` and `/shorter` off their `content-length`, `/raise` and `/raise-late` with an
    exception before and after the response starts, `/raise-with-body` with one quoting the body,
    `/silent` with nothing, `/unfinished` with a response started and never completed,
    `/stream?N` with N 6 KB chunks, `/wait` only after the client hangs up; anything else echoes
    the body size."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.disconnects: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        path = scope["path"]
        self.seen.append(path)
        if path == "/refuse":
            await self._answer(send, 401, b"no")
            return
        if path == "/inject":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-a", b"v\r\nset-cookie: " + CANARY)]})
            return
        if path in ("/longer", "/shorter"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"5")]})
            await send({"type": "http.response.body", "body": b"123456" if path == "/longer"
                        else b"123", "more_body": path == "/shorter"})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/raise":
            raise RuntimeError("boom")
        if path == "/raise-on-disconnect":
            while (await receive())["type"] != "http.disconnect":
                pass
            raise RuntimeError("boom")
        if path == "/raise-late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            raise RuntimeError("boom")
        if path == "/silent":
            return
        if path == "/paced":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for index in range(40):
                await send({"type": "http.response.body", "body": b"%06d" % index * 100,
                            "more_body": True})
                await asyncio.sleep(0.02)
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects.append(path)
                return
            body += message["body"]
            if not message["more_body"]:
                break
        if path == "/wait":
            message = await receive()
            self.disconnects.append(path)
            return
        if path == "/raise-with-body":      # an error whose message quotes the request
            raise RuntimeError(body.decode())
        if path == "/unfinished":           # starts the answer, then returns mid-body
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            return
        if path == "/stream":
            watch = asyncio.ensure_future(receive())       # the gateway's relay does the same
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for index in range(int(scope["query_string"] or b"3")):
                await send({"type": "http.response.body", "body": b"%06d" % index * 1000,
                            "more_body": True})
                if watch.done():
                    self.disconnects.append(path)
                    return
            await send({"type": "http.response.body", "body": b""})
            watch.cancel()
            return
        status = 400 if path == "/bad" else 204 if path == "/empty" else 200
        await self._answer(send, status, b"" if status == 204 else
                           json.dumps({"size": len(body)}).encode())

    @staticmethod
    async def _answer(send: Any, status: int, body: bytes) -> None:
        headers = [] if status == 204 else [(b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=("zdr", "uvicorn"))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(protocol: str) -> Iterator[tuple[UvicornThread, App]]:
    app = App()
    with UvicornThread(app, http=protocol_named(protocol), timeout_keep_alive=5) as server:
        yield server, app


@pytest.fixture
def own() -> Iterator[tuple[UvicornThread, App]]:
    app = App()
    with UvicornThread(app, http=protocol_named("zdr"), timeout_keep_alive=5) as server:
        yield server, app


@pytest.fixture
def quick() -> Iterator[tuple[UvicornThread, App]]:
    """The gateway's protocol with a 1 s head timeout and a 1 s keep-alive."""
    limits = http_server.GatewayHttpProtocol.limits
    server_protocol.configure(limits, 1.0)
    app = App()
    try:
        with UvicornThread(app, http=protocol_named("zdr"), timeout_keep_alive=1) as server:
            yield server, app
    finally:
        server_protocol.configure(limits)


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes this connection within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_for(condition: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


# ---------------------------------------------------------------- smuggling


@pytest.mark.parametrize(("name", "wire"), [
    ("TE xchunked", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: xchunked\r\n\r\n"
     b"0\r\n\r\n" + SMUGGLED),
    ("TE upper case and CL", b"POST /a HTTP/1.1\r\nhost: x\r\nTRANSFER-ENCODING: CHUNKED\r\n"
     b"Content-Length: 5\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("TE with a tab and CL", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding:\tchunked\r\n"
     b"content-length: 3\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("TE folded", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding:\r\n chunked\r\n"
     b"content-length: 5\r\n\r\nhello" + SMUGGLED),
    ("CL with a sign", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: +5\r\n\r\nhello"
     + SMUGGLED),
    ("CL with an inner space", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 1 0\r\n\r\nhello"
     + SMUGGLED),
    ("CL in hex", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 0x5\r\n\r\nhello" + SMUGGLED),
    ("CL empty", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: \r\n\r\nhello" + SMUGGLED),
    ("CL past 2**64", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 18446744073709551616\r\n"
     b"\r\nhello" + SMUGGLED),
    ("chunk size with a leading space", b"POST /a HTTP/1.1\r\nhost: x\r\n"
     b"transfer-encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    ("chunk size with a trailing space", b"POST /a HTTP/1.1\r\nhost: x\r\n"
     b"transfer-encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    ("chunk size 0x", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
     b"0x5\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    ("chunk extension hiding a CRLF", b"POST /a HTTP/1.1\r\nhost: x\r\n"
     b"transfer-encoding: chunked\r\n\r\n5;a=\"b\r\n\"\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
    ("chunk data without its CRLF", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked"
     b"\r\n\r\n5\r\nhelloXX0\r\n\r\n" + SMUGGLED),
    ("trailer with a content-length", b"POST /a HTTP/1.1\r\nhost: x\r\n"
     b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\ncontent-length: 40\r\n\r\n" + SMUGGLED),
    ("bare LF line endings", b"POST /a HTTP/1.1\nhost: x\ncontent-length: 5\n\nhello" + SMUGGLED),
    ("bare LF in the head", b"POST /a HTTP/1.1\r\nhost: x\ncontent-length: 5\r\n\r\nhello"
     + SMUGGLED),
    ("bare CR in a header value", b"POST /a HTTP/1.1\r\nhost: x\r\nx-a: b\rcontent-length: 5\r\n"
     b"\r\nhello" + SMUGGLED),
    ("NUL in a header value", b"POST /a HTTP/1.1\r\nhost: x\r\nx-a: b\x00" + CANARY +
     b"\r\ncontent-length: 5\r\n\r\nhello" + SMUGGLED),
    ("CONNECT", b"CONNECT evil:443 HTTP/1.1\r\nhost: x\r\n\r\n" + SMUGGLED),
    ("non-ASCII path", b"GET /a\xc3\xa9" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("absolute form without a path", b"GET http://evil.example HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("HTTP/1.2", b"GET /a HTTP/1.2\r\nhost: x\r\n\r\n"),
    ("lower-case method", b"get /a HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("body shorter than declared, then a request", b"POST /a HTTP/1.1\r\nhost: x\r\n"
     b"content-length: 4\r\n\r\nabc" + SMUGGLED),
])
def test_more_smuggling_shapes_are_400_and_nothing_behind_them_is_served(
        served: tuple[UvicornThread, App], name: str, wire: bytes) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(wire)
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), (name, answer[:200])
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert answer.count(b"HTTP/1.1 4") == 1 and b"HTTP/1.1 2" not in answer, name
    assert CANARY not in answer
    assert "/smuggled" not in app.seen


def test_te_chunked_on_http_1_0_serves_one_request_and_closes(
        served: tuple[UvicornThread, App]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"POST /a HTTP/1.0\r\nconnection: keep-alive\r\n"
                     b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED)
        answer = read_all(sock)
    assert answer.count(b"HTTP/1.1 ") == 1 and "/smuggled" not in app.seen


def test_targets_in_absolute_form_and_asterisk_reach_the_app_as_paths(
        served: tuple[UvicornThread, App]) -> None:
    server, app = served
    for wire in (b"GET http://evil.example/v1/x?q=1 HTTP/1.1\r\nhost: x\r\nconnection: close"
                 b"\r\n\r\n", b"OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"):
        with connect(server) as sock:
            sock.sendall(wire)
            assert read_all(sock).startswith(b"HTTP/1.1 200 ")
    assert app.seen == ["/v1/x", "*"]


@pytest.mark.parametrize(("target", "path"), [
    (b"http://a:b@c/d", "/d"), (b"//x/y", "//x/y"), (b"/a#frag", "/a"),
    (b"/a%ZZ%e9%00", "/a%ZZ\ufffd\x00"),
    (b"http://e?x", None), (b"?x", None), (b"evil:443", None), (b"http://[::1]:80", None),
])
def test_odd_targets_reach_the_app_as_uvicorn_gives_them_or_are_400(
        served: tuple[UvicornThread, App], target: bytes, path: str | None) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"GET %b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" % target)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 " if path is None else b"HTTP/1.1 200 ")
    assert app.seen == ([] if path is None else [path])


def test_a_request_line_past_the_head_allowance_is_431(served: tuple[UvicornThread, App]) -> None:
    server, app = served
    with connect(server) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /" + CANARY * 8000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") and CANARY not in answer and app.seen == []


# ---------------------------------------------------------------- the app's response


def test_a_huge_head_behind_a_streaming_response_never_cuts_into_it(
        own: tuple[UvicornThread, App]) -> None:
    """The next request's head passes the allowance while a response streams: the response is
    not interrupted by a 431 in its middle (the connection closes instead; uvicorn's protocol
    writes the 431 into the response and fails the app's next `send()`)."""
    server, _ = own
    with connect(server) as sock:
        sock.sendall(b"GET /paced HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = read_all(sock, until=b"000003", timeout=5)
        sock.sendall(b"GET /b HTTP/1.1\r\nhost: x\r\nx-big: ")
        time.sleep(0.1)
        with contextlib.suppress(OSError):
            sock.sendall(CANARY * 8000)
        answer += read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 431" not in answer
    assert CANARY not in answer


def test_a_header_with_cr_lf_from_the_app_is_never_sent(
        served: tuple[UvicornThread, App]) -> None:
    server, _ = served
    with connect(server) as sock:
        sock.sendall(b"GET /inject HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = read_all(sock)
    assert CANARY not in answer and b"set-cookie" not in answer.lower()


@pytest.mark.parametrize("path", ["/longer", "/shorter"])
def test_a_body_off_its_content_length_never_desyncs_the_connection(
        served: tuple[UvicornThread, App], path: str) -> None:
    """More bytes than declared: none of them is sent; fewer: the connection closes, so the
    client sees a truncated response, never the start of the next one."""
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"GET %b HTTP/1.1\r\nhost: x\r\n\r\nGET /next HTTP/1.1\r\nhost: x\r\n\r\n"
                     % path.encode())
        answer = read_all(sock)                     # ends: the server closed
    assert b"123456" not in answer and answer.count(b"HTTP/1.1 ") <= 1
    assert "/next" not in app.seen


def test_head_and_204_answers_carry_no_body_and_keep_the_connection(
        served: tuple[UvicornThread, App]) -> None:
    server, _ = served
    with connect(server) as sock:
        sock.sendall(b"HEAD /a HTTP/1.1\r\nhost: x\r\n\r\nPOST /empty HTTP/1.1\r\nhost: x\r\n"
                     b"content-length: 0\r\n\r\nGET /last HTTP/1.1\r\nhost: x\r\n"
                     b"connection: close\r\n\r\n")
        answer = read_all(sock)
    parts = answer.split(b"HTTP/1.1 ")[1:]
    assert [part[:3] for part in parts] == [b"200", b"204", b"200"], answer
    assert parts[0].endswith(b"\r\n\r\n") and parts[1].endswith(b"\r\n\r\n")
    assert b"transfer-encoding" not in parts[1].lower()


def test_an_app_that_raises_or_stays_silent_gets_500_or_a_close(
        served: tuple[UvicornThread, App], caplog: pytest.LogCaptureFixture) -> None:
    server, _ = served
    for path, status in ((b"/raise", b"500"), (b"/silent", b"500"), (b"/raise-late", b"200")):
        with connect(server) as sock:
            sock.sendall(b"GET %b HTTP/1.1\r\nhost: x\r\n\r\n" % path)
            answer = read_all(sock)                 # ends: the server closed
        assert answer.startswith(b"HTTP/1.1 %b " % status), (path, answer[:100])
        if path == b"/raise-late":
            assert not answer.endswith(b"0\r\n\r\n")   # the client sees the response cut short


def test_an_app_that_raises_after_a_refusal_writes_nothing_more(
        served: tuple[UvicornThread, App]) -> None:
    """A broken chunked body is refused (400) while the app reads it; the app then fails: its
    500 is not written after the 400 (nor does writing it fail in the server)."""
    server, _ = served
    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with connect(server) as sock:
            sock.sendall(b"POST /raise-on-disconnect HTTP/1.1\r\nhost: x\r\n"
                         b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            time.sleep(0.2)
            sock.sendall(b"zz\r\n")
            answer = read_all(sock)
        time.sleep(0.3)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"HTTP/1.1 500" not in answer
    failures = [record for record in handler.records if record.exc_info
                and "boom" not in str(record.exc_info[1])]
    assert failures == []


def test_keep_alive_goes_on_after_the_apps_error_answer(served: tuple[UvicornThread, App]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"POST /bad HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        assert read_all(sock, until=b"}").startswith(b"HTTP/1.1 400 ")
        sock.sendall(b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
    assert app.seen == ["/bad", "/ok"]


# ---------------------------------------------------------------- Expect: 100-continue


def test_an_answer_before_100_continue_closes_without_reading_the_body(
        own: tuple[UvicornThread, App]) -> None:
    """Refused before `100 Continue`: the client may never send the body, so whatever it sends
    next cannot be framed. The answer says `connection: close`, the body is not read, and the
    next bytes are not taken for a request (nor the request for the body)."""
    server, app = own
    with connect(server) as sock:
        sock.sendall(b"POST /refuse HTTP/1.1\r\nhost: x\r\ncontent-length: 30\r\n"
                     b"expect: 100-continue\r\n\r\n")
        answer = read_all(sock, until=b"no", timeout=5)
        assert answer.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in answer
        assert b"connection: close" in answer.lower()
        with contextlib.suppress(OSError):
            sock.sendall(SMUGGLED + b"x" * (30 - len(SMUGGLED)))
        rest = read_all(sock, timeout=5)            # ends: the server closed
    assert rest == b"" and app.seen == ["/refuse"]


def test_an_answer_after_100_continue_keeps_the_connection(
        own: tuple[UvicornThread, App]) -> None:
    server, app = own
    with connect(server) as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n"
                     b"expect: 100-continue\r\n\r\n")
        assert read_all(sock, until=b"\r\n\r\n", timeout=5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        answer = read_all(sock, until=b"}", timeout=5)
        assert answer.startswith(b"HTTP/1.1 200 ") and b"connection: close" not in answer
        sock.sendall(b"GET /next HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
    assert app.seen == ["/a", "/next"]


# ---------------------------------------------------------------- holding connections


def test_crlfs_between_requests_do_not_hold_an_idle_connection(
        quick: tuple[UvicornThread, App]) -> None:
    """A CRLF is no request: it must not restart the keep-alive wait (else a client trickling
    CRLFs holds a connection open forever)."""
    server, _ = quick
    with connect(server) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_all(sock, until=b"}").startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 6:
            try:
                sock.sendall(b"\r\n")
            except OSError:
                break
            closed = closed_by_server(sock, 0.3)
    assert time.monotonic() - started < 4


def test_crlfs_before_the_first_request_get_408(quick: tuple[UvicornThread, App]) -> None:
    server, app = quick
    with connect(server) as sock:
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < 6 and not answer:
            try:
                sock.sendall(b"\r\n")
            except OSError:
                break
            sock.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 ") and app.seen == []


def test_the_dropped_body_of_an_answered_request_holds_the_connection_only_while_it_flows(
        quick: tuple[UvicornThread, App]) -> None:
    server, app = quick
    with connect(server) as sock:
        sock.sendall(b"POST /refuse HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
        assert read_all(sock, until=b"no").startswith(b"HTTP/1.1 401 ")
        for _ in range(6):                           # 1.8 s of body: still open
            sock.sendall(b"x" * 1000)
            time.sleep(0.3)
        started = time.monotonic()
        assert closed_by_server(sock, 5)             # then idle: closed after keep-alive
        assert time.monotonic() - started < 3
    assert app.seen == ["/refuse"]


def test_an_upgrade_request_followed_by_a_long_write_is_served_and_closed(
        own: tuple[UvicornThread, App]) -> None:
    """The bytes after an upgrade request are never parsed, even when the same read goes past
    the head allowance."""
    server, app = own
    with connect(server) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /up HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c"
                         b"\r\n\r\n" + SMUGGLED * 3000)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1 ") == 1
    assert app.seen == ["/up"]


def test_many_idle_connections_are_all_closed_after_keep_alive(
        quick: tuple[UvicornThread, App]) -> None:
    server, _ = quick
    socks = [connect(server) for _ in range(50)]
    try:
        for sock in socks:
            sock.sendall(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        for sock in socks:
            assert read_all(sock, until=b"}").startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert all(closed_by_server(sock, 5) for sock in socks)
        assert time.monotonic() - started < 4
    finally:
        for sock in socks:
            sock.close()


# ---------------------------------------------------------------- hang-ups, slow readers


def test_a_reset_mid_response_is_a_disconnect_to_the_app(served: tuple[UvicornThread, App]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"GET /stream?100000 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_all(sock, until=b"000001", timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert wait_for(lambda: "/stream" in app.disconnects)


def test_a_half_close_after_the_request_is_a_hang_up(served: tuple[UvicornThread, App]) -> None:
    """A client that shuts down its sending side is taken as gone, as uvicorn (and nginx) take
    it: the app sees `http.disconnect` (and the gateway cancels the upstream call) instead of
    serving a client that may have closed for good."""
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"POST /wait HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        sock.shutdown(socket.SHUT_WR)
        assert wait_for(lambda: "/wait" in app.disconnects)


def test_a_client_that_never_reads_holds_the_app_not_the_memory(
        own: tuple[UvicornThread, App], monkeypatch: pytest.MonkeyPatch) -> None:
    """A 600 MB streamed response to a client that reads nothing: `send()` waits on the
    transport, so the server buffers at most its write high-water mark, not the response."""
    server, app = own
    sizes: list[int] = []
    write = http_server.GatewayHttpProtocol.write

    def measured(self: http_server.GatewayHttpProtocol, data: bytes) -> None:
        write(self, data)
        sizes.append(self.transport.get_write_buffer_size())

    monkeypatch.setattr(http_server.GatewayHttpProtocol, "write", measured)
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /stream?100000 HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(1.5)
        sent = len(sizes)
        time.sleep(0.5)
        assert len(sizes) - sent <= 2                 # the app is held, not writing
        assert sent < 1000 and max(sizes) < 1024 * 1024
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert wait_for(lambda: "/stream" in app.disconnects)


def test_ten_thousand_pipelined_requests_in_one_write_hold_a_bounded_queue(
        own: tuple[UvicornThread, App]) -> None:
    """A read of tiny requests must not become thousands of waiting requests in memory: past
    `PIPELINE_DEPTH` waiting, those are answered in order and the connection closes."""
    server, app = own
    count = 10_000
    wire = b"".join(b"GET /%d HTTP/1.1\r\nhost: x\r\n\r\n" % index for index in range(count))
    with connect(server, timeout=60) as sock:
        sock.sendall(wire)
        answer = read_all(sock, timeout=60)          # ends: the server closed
    answered = answer.count(b"HTTP/1.1 200 OK")
    assert http_server.PIPELINE_DEPTH < answered <= count // 2
    assert app.seen == [f"/{index}" for index in range(answered)]
    assert answer.rstrip().endswith(b"}")             # the last answer whole


def test_pipelined_requests_up_to_the_depth_are_all_answered(
        own: tuple[UvicornThread, App]) -> None:
    server, app = own
    count = http_server.PIPELINE_DEPTH
    wire = b"".join(b"GET /%d HTTP/1.1\r\nhost: x\r\n\r\n" % index for index in range(count))
    with connect(server, timeout=60) as sock:
        sock.sendall(wire + b"GET /end HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = read_all(sock, timeout=60)
    assert answer.count(b"HTTP/1.1 200 OK") == count + 1
    assert app.seen == [f"/{index}" for index in range(count)] + ["/end"]


def test_a_request_behind_a_large_body_in_the_same_write_is_not_taken_for_a_huge_head(
        own: tuple[UvicornThread, App]) -> None:
    """The head allowance counts one head's bytes: a 40 KB body and the start of the next
    request in one read do not add up to a 431."""
    server, app = own
    body = b"{}" + b" " * 40_000
    wire = (b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
            + b"GET /b HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 20_000
            + b"\r\nconnection: close\r\n\r\n")
    with connect(server) as sock:
        sock.sendall(wire)
        answer = read_all(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer[:300]
    assert app.seen == ["/a", "/b"]


async def test_every_writer_waiting_on_a_paused_transport_wakes() -> None:
    """Two `send()`s waiting for the transport (the app's and a late one) both resume."""

    class Transport:
        def is_closing(self) -> bool:
            return False

    loop = asyncio.get_running_loop()
    conn = http_server.GatewayHttpProtocol(Config(App()), ServerState(), {}, loop)
    conn.transport = Transport()  # type: ignore[assignment]
    conn.pause_writing()
    waiters = [asyncio.ensure_future(conn.drain()) for _ in range(2)]
    await asyncio.sleep(0)
    conn.resume_writing()
    await asyncio.wait_for(asyncio.gather(*waiters), timeout=1)


# ---------------------------------------------------------------- privacy


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_refused_requests_content_is_in_no_log_line(served: tuple[UvicornThread, App]) -> None:
    server, _ = served
    wires = [
        b"POST /a" + CANARY + b"\x00 HTTP/1.1\r\nhost: x\r\n\r\n",
        b"POST /a HTTP/1.1\r\nhost: x\r\nx-" + CANARY + b": \x01" + CANARY + b"\r\n\r\n",
        b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\n"
        + CANARY + b"\r\n0\r\n\r\n",
        b"POST /a HTTP/1.1\r\nhost: x\r\nx-big: " + CANARY * 5000 + b"\r\n\r\n",
        b"GET /inject HTTP/1.1\r\nhost: x\r\nx-c: " + CANARY + b"\r\n\r\n",
        b"GET /raise?" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n",
    ]
    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        for wire in wires:
            with connect(server) as sock:
                with contextlib.suppress(OSError):
                    sock.sendall(wire)
                answer = read_all(sock)
            assert CANARY not in answer
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    logged = "\n".join(logging.Formatter().format(record) for record in handler.records)
    assert logged and CANARY.decode() not in logged


def test_what_the_protocol_logs_of_a_failing_app_quotes_nothing_of_the_request(
        own: tuple[UvicornThread, App]) -> None:
    """An app that raises with the request in its message, returns without answering, or
    returns mid-answer: the protocol logs that it happened, by type, and nothing of the request
    (not the message, not the traceback's text)."""
    server, _ = own
    wires = [
        post("/raise-with-body?" + CANARY.decode(), CANARY * 3, b"x-c: " + CANARY + b"\r\n"),
        post("/silent?" + CANARY.decode(), CANARY, b"x-c: " + CANARY + b"\r\n"),
        post("/unfinished?" + CANARY.decode(), CANARY, b"x-c: " + CANARY + b"\r\n"),
    ]
    handler = Collect()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        answers = []
        for wire in wires:
            with connect(server) as sock:
                sock.sendall(wire)
                answers.append(read_all(sock))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert answers[0].startswith(b"HTTP/1.1 500 ") and answers[1].startswith(b"HTTP/1.1 500 ")
    assert answers[2].startswith(b"HTTP/1.1 200 ") and not answers[2].endswith(b"0\r\n\r\n")
    assert all(CANARY not in answer for answer in answers)
    logged = "\n".join(logging.Formatter().format(record) for record in handler.records)
    assert "RuntimeError" in logged
    assert "returned without starting response" in logged
    assert "returned without completing response" in logged
    assert CANARY.decode() not in logged
