"""The HTTP/1.1 protocol `zdr serve` runs (`zdr.gateway.http_server`), attacked on the wire with
raw sockets: request smuggling, slow heads, pipelining, huge chunk sizes, hang-ups mid-body;
and the HTTP it must keep from uvicorn's protocol (keep-alive, HTTP/1.0, `Connection: close`,
`Expect: 100-continue`, chunked bodies both ways, write flow control, the client's address,
graceful shutdown). Where both protocols promise the same, the test runs on both (`uvicorn`: the
bounded uvicorn protocol still selectable with `http_protocol = "uvicorn"`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from raw_http import connect, post, read_all

from zdr.gateway import http_server, server_protocol
from zdr.gateway.server_protocol import protocol_named
from zdr.settings import load_settings
from zdr.testing.servers import UvicornThread

CANARY = b"zdrcanarywire"
PROTOCOLS = ("zdr", "uvicorn")


class Recorder:
    """An ASGI app that answers every request with what it received, and remembers it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.disconnects = 0
        self.hold = threading.Event()        # set: /slow answers at once
        self.hold.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                return
            body += message["body"]
            if not message["more_body"]:
                break
        self.seen.append({"path": scope["path"], "body": body, "client": scope["client"],
                          "version": scope["http_version"], "query": scope["query_string"]})
        if scope["path"] == "/slow":
            while not self.hold.is_set():
                await asyncio.sleep(0.01)
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            for index in range(int(scope["query_string"] or b"3")):
                await send({"type": "http.response.body", "body": b"%06d" % index * 1000,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        answer = json.dumps({"path": scope["path"], "size": len(body)}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"%d" % len(answer))]})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(protocol: str) -> Iterator[tuple[UvicornThread, Recorder]]:
    app = Recorder()
    with UvicornThread(app, http=protocol_named(protocol), timeout_keep_alive=5) as server:
        yield server, app


@pytest.fixture
def own() -> Iterator[tuple[UvicornThread, Recorder]]:
    app = Recorder()
    with UvicornThread(app, http=protocol_named("zdr"), timeout_keep_alive=5) as server:
        yield server, app


def api_400(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert CANARY not in answer


# ---------------------------------------------------------------- smuggling


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.mark.parametrize(("name", "wire"), [
    ("CL and TE", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n"
     b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("TE and CL", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
     b"content-length: 40\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("two content-lengths", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n"
     b"content-length: 36\r\n\r\n" + SMUGGLED),
    ("same content-length twice", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n"
     b"content-length: 3\r\n\r\nabc" + SMUGGLED),
    ("content-length list", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3, 3\r\n\r\nabc"),
    ("TE not ending in chunked", b"POST /a HTTP/1.1\r\nhost: x\r\n"
     b"transfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("TE twice", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
     b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("obs-fold", b"POST /a HTTP/1.1\r\nhost: x\r\nx-a: b\r\n content-length: 36\r\n"
     b"content-length: 0\r\n\r\n" + SMUGGLED),
    ("space before colon", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding : chunked\r\n"
     b"content-length: 0\r\n\r\n"),
    ("chunk size not hex", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
     b"zz\r\n" + CANARY + b"\r\n0\r\n\r\n"),
    ("huge chunk size", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
     b"fffffffffffffffffffff\r\n" + CANARY + b"\r\n0\r\n\r\n"),
    ("chunk longer than its size", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked"
     b"\r\n\r\n2\r\n" + CANARY + b"\r\n0\r\n\r\n"),
    ("bare LF in chunk extension", b"POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked"
     b"\r\n\r\n3;a\nabc\r\n0\r\n\r\n"),
    ("negative content-length", b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n"),
])
def test_smuggling_shapes_are_400_and_nothing_behind_them_is_served(
        served: tuple[UvicornThread, Recorder], name: str, wire: bytes) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(wire)
        answer = read_all(sock)
    api_400(answer)
    assert answer.count(b"HTTP/1.1 4") == 1 and b"HTTP/1.1 2" not in answer, name
    assert [seen["path"] for seen in app.seen if seen["path"] == "/smuggled"] == []


def test_a_request_inside_a_body_stays_body(served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(post("/a", SMUGGLED) + post("/b", b"x", b"connection: close\r\n"))
        answer = read_all(sock)
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert [seen["path"] for seen in app.seen] == ["/a", "/b"]
    assert app.seen[0]["body"] == SMUGGLED


# ---------------------------------------------------------------- pipelining, keep-alive


def test_pipelined_requests_are_answered_in_order(served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    wire = b"".join(post(f"/p{i}", b"b" * i) for i in range(20))
    wire += b"GET /stream?2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(wire)
        answer = read_all(sock)
    assert [seen["path"] for seen in app.seen] == [f"/p{i}" for i in range(20)] + ["/stream"]
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0])
              for part in answer.split(b"HTTP/1.1 200 OK")[1:21]]
    assert [body["path"] for body in bodies] == [f"/p{i}" for i in range(20)]
    assert [body["size"] for body in bodies] == list(range(20))
    assert answer.endswith(b"0\r\n\r\n")


def test_many_pipelined_requests_in_one_write_are_all_answered(
        own: tuple[UvicornThread, Recorder]) -> None:
    server, app = own
    with connect(server) as sock:
        sock.sendall(post("/x", b"{}") * 500 + post("/end", b"", b"connection: close\r\n"))
        answer = read_all(sock, timeout=30)
    assert answer.count(b"HTTP/1.1 200 OK") == 501
    assert len(app.seen) == 501


def test_keep_alive_serves_requests_one_after_another(
        served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    with connect(server) as sock:
        for index in range(5):
            sock.sendall(post(f"/k{index}", b"abc"))
            answer = read_all(sock, until=b'"size": 3}')
            assert answer.startswith(b"HTTP/1.1 200 OK"), answer
    assert len(app.seen) == 5


def test_http_1_0_and_connection_close_close_after_the_answer(
        served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    for wire in (b"GET /old HTTP/1.0\r\n\r\n",
                 b"GET /close HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                 b"GET /stream?2 HTTP/1.0\r\n\r\n"):
        with connect(server) as sock:
            sock.sendall(wire)
            answer = read_all(sock)          # ends: the server closed the connection
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert b"connection: close" in answer.lower()
    assert [seen["version"] for seen in app.seen] == ["1.0", "1.1", "1.0"]


def test_an_idle_keep_alive_connection_is_closed(protocol: str) -> None:
    app = Recorder()
    with UvicornThread(app, http=protocol_named(protocol), timeout_keep_alive=1) as server, \
            connect(server) as sock:
        sock.sendall(post("/a", b""))
        started = time.monotonic()
        answer = read_all(sock, timeout=10)
        assert answer.startswith(b"HTTP/1.1 200") and time.monotonic() - started < 5


# ---------------------------------------------------------------- bodies


def test_a_chunked_request_body_arrives_whole(served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    chunks = [b"a" * 10, b"b" * 70000, b"c"]
    wire = (b"POST /chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
            b"connection: close\r\n\r\n"
            + b"".join(b"%x;ext=1\r\n%b\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n")
    with connect(server) as sock:
        for index in range(0, len(wire), 4096):
            sock.sendall(wire[index:index + 4096])
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200")
    assert app.seen[0]["body"] == b"".join(chunks)


def test_a_large_body_is_read_under_flow_control(own: tuple[UvicornThread, Recorder]) -> None:
    server, app = own
    body = bytes(range(256)) * 8192              # 2 MB
    with connect(server, timeout=30) as sock:
        sock.sendall(post("/big", body, b"connection: close\r\n"))
        answer = read_all(sock, timeout=30)
    assert answer.startswith(b"HTTP/1.1 200")
    assert app.seen[0]["body"] == body


def test_expect_100_continue_is_answered_before_the_body(
        served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n"
                     b"expect: 100-continue\r\nconnection: close\r\n\r\n")
        interim = read_all(sock, until=b"\r\n\r\n", timeout=5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200") and app.seen[0]["body"] == b"hello"


def test_a_hang_up_mid_body_is_a_disconnect_and_the_server_carries_on(
        served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(post("/half", b"x" * 1000)[:-500])
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while app.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.disconnects == 1 and app.seen == []
    with connect(server) as sock:
        sock.sendall(post("/after", b"ok", b"connection: close\r\n"))
        assert read_all(sock).startswith(b"HTTP/1.1 200")


# ---------------------------------------------------------------- responses


def test_a_streamed_response_to_a_slow_reader_arrives_whole(
        own: tuple[UvicornThread, Recorder], monkeypatch: pytest.MonkeyPatch) -> None:
    """12 MB in 6 KB chunks to a client that does not read at first: the transport pauses the
    writer, the app's `send()` waits, and every byte arrives in order."""
    server, _ = own
    pauses = []
    pause = http_server.GatewayHttpProtocol.pause_writing

    def counted(self: http_server.GatewayHttpProtocol) -> None:
        pauses.append(1)
        pause(self)

    monkeypatch.setattr(http_server.GatewayHttpProtocol, "pause_writing", counted)
    count = 2000
    with connect(server, timeout=30) as sock:
        sock.sendall(b"GET /stream?%d HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" % count)
        time.sleep(1.0)
        answer = read_all(sock, timeout=30)
    _, _, body = answer.partition(b"\r\n\r\n")
    data = bytearray()
    while body:
        size, _, rest = body.partition(b"\r\n")
        length = int(size, 16)
        if length == 0:
            break
        data += rest[:length]
        body = rest[length + 2:]
    assert data == b"".join(b"%06d" % index * 1000 for index in range(count))
    assert pauses


def test_the_app_sees_the_client_address_and_query(
        served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"GET /q%2Fx?a=1&b=%20 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        local = sock.getsockname()
        read_all(sock)
    assert app.seen[0]["client"] == (local[0], local[1])
    assert app.seen[0]["path"] == "/q/x" and app.seen[0]["query"] == b"a=1&b=%20"


# ---------------------------------------------------------------- slow heads, big heads


@pytest.fixture
def quick_heads() -> Iterator[None]:
    """Head timeout 1 s for both protocols in this process."""
    limits = http_server.GatewayHttpProtocol.limits
    server_protocol.configure(limits, 1.0)
    yield
    server_protocol.configure(limits)


@pytest.mark.parametrize("sent", [b"", b"POST /a HTTP/1.1\r\nhost: x\r\nx-slow: "])
def test_slowloris_heads_get_408(served: tuple[UvicornThread, Recorder], quick_heads: None,
                                 sent: bytes) -> None:
    server, app = served
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(sent)
        answer = b""
        for _ in range(8):                          # a byte every 0.4 s: no restart of the timer
            time.sleep(0.4)
            try:
                sock.sendall(b"a" if sent else b"")
            except OSError:
                break
            sock.setblocking(False)
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            finally:
                sock.setblocking(True)
            if answer:
                break
        answer += read_all(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < 5 and app.seen == []


def test_a_slow_head_after_a_served_request_gets_408(own: tuple[UvicornThread, Recorder],
                                                     quick_heads: None) -> None:
    server, app = own
    with connect(server) as sock:
        sock.sendall(post("/first", b"") + b"GET /second HTTP/1.1\r\nhost: x\r\n")
        answer = read_all(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408 " in answer
    assert [seen["path"] for seen in app.seen] == ["/first"]


def test_a_huge_head_is_431_while_it_arrives(served: tuple[UvicornThread, Recorder]) -> None:
    server, app = served
    with connect(server) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nhost: x\r\nx-big: ")
        try:
            for _ in range(400):                       # up to 4 MB
                sock.sendall(CANARY * 800)
        except OSError:
            pass
        answer = read_all(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert CANARY not in answer and app.seen == []


def test_an_upgrade_request_is_served_and_the_connection_closed(
        own: tuple[UvicornThread, Recorder]) -> None:
    server, app = own
    with connect(server) as sock:
        sock.sendall(b"GET /up HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"
                     + SMUGGLED)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1 ") == 1
    assert [seen["path"] for seen in app.seen] == ["/up"]


def test_an_upgrade_request_behind_another_is_served_then_closed(
        own: tuple[UvicornThread, Recorder]) -> None:
    server, app = own
    with connect(server) as sock:
        sock.sendall(post("/first", b"x") + b"GET /up HTTP/1.1\r\nhost: x\r\n"
                     b"connection: upgrade\r\nupgrade: h2c\r\n\r\n" + SMUGGLED)
        answer = read_all(sock)                   # ends: the server closed the connection
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert [seen["path"] for seen in app.seen] == ["/first", "/up"]


# ---------------------------------------------------------------- shutdown


def test_graceful_shutdown_lets_a_running_request_finish(protocol: str) -> None:
    app = Recorder()
    app.hold.clear()
    server = UvicornThread(app, http=protocol_named(protocol))
    server.start()
    try:
        with connect(server) as busy, connect(server) as idle:
            idle.sendall(post("/idle", b"", b""))
            assert read_all(idle, until=b"}").startswith(b"HTTP/1.1 200")
            busy.sendall(post("/slow", b"x"))
            time.sleep(0.2)
            server.server.should_exit = True
            time.sleep(0.3)
            assert read_all(idle, timeout=3) == b""          # idle: closed at once
            app.hold.set()
            answer = read_all(busy, timeout=10)
            assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer
    finally:
        app.hold.set()
        server.close()


# ---------------------------------------------------------------- the setting


@pytest.mark.parametrize(("value", "protocol"), [
    (None, "zdr.gateway.http_server:GatewayHttpProtocol"),
    ("zdr", "zdr.gateway.http_server:GatewayHttpProtocol"),
    ("uvicorn", "zdr.gateway.server_protocol:BoundedHeadProtocol"),
])
def test_the_protocol_is_the_settings_choice(tmp_path: Any, value: str | None,
                                             protocol: str) -> None:
    env = {} if value is None else {"ZDR_HTTP_PROTOCOL": value}
    settings = load_settings(env=env, home=tmp_path / "home")
    assert protocol_named(settings.http_protocol) == protocol


def test_an_unknown_protocol_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="http_protocol"):
        load_settings(env={"ZDR_HTTP_PROTOCOL": "h11"}, home=tmp_path / "home")
