"""Both HTTP `Upstream`s (aiohttp's client, the httptools pool) over loopback sockets, against
one table: what they send is exactly what they were given, the body comes back as it arrives,
and every client failure becomes one of the error tree's upstream errors, with a message of its
own (never the exception's text). Then the pool's own duties: reuse, no reuse of a connection
whose answer was cut, reading paused for a slow consumer."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from zdr.errors import UpstreamDropped, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from zdr.gateway import upstream_httptools
from zdr.gateway.upstream_aiohttp import AiohttpUpstream, translated
from zdr.gateway.upstream_httptools import HttptoolsUpstream
from zdr.testing.servers import free_port

SECRET = "SECRET-IN-CLIENT-ERROR"


@pytest.mark.parametrize(("error", "translation"), [
    (TimeoutError(SECRET), UpstreamTimeout),
    (aiohttp.ServerTimeoutError(SECRET), UpstreamTimeout),            # read timeout
    (aiohttp.ConnectionTimeoutError(SECRET), UpstreamTimeout),        # connect timeout
    (aiohttp.SocketTimeoutError(SECRET), UpstreamTimeout),
    (aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey(
        SECRET, 443, True, True, None, None, None), OSError(111, SECRET)), UpstreamUnreachable),
    (aiohttp.ServerDisconnectedError(SECRET), UpstreamDropped),   # closed mid-answer
    (aiohttp.ClientPayloadError(SECRET), UpstreamDropped),        # a broken body
    (aiohttp.ClientOSError(104, SECRET), UpstreamDropped),        # reset
    (aiohttp.ClientError(SECRET), UpstreamDropped),               # anything else
])
def test_client_errors_become_the_trees_upstream_errors(error: BaseException,
                                                        translation: type) -> None:
    result = translated(error)
    assert type(result) is translation and isinstance(result, UpstreamError)
    assert SECRET not in result.message and SECRET not in str(result)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


Client: TypeAlias = type[AiohttpUpstream] | type[HttptoolsUpstream]
AnyUpstream: TypeAlias = AiohttpUpstream | HttptoolsUpstream


@pytest.fixture(params=[AiohttpUpstream, HttptoolsUpstream], ids=["aiohttp", "httptools"])
def client(request: pytest.FixtureRequest) -> Client:
    kind: Client = request.param
    return kind


@pytest.fixture
async def upstream_for(client: Client) -> AsyncIterator[Callable[..., Awaitable[AnyUpstream]]]:
    servers: list[TestServer] = []
    upstreams: list[AnyUpstream] = []

    async def make(handler: Handler, **timeouts: float) -> AnyUpstream:
        server = await serve(handler)
        servers.append(server)
        upstream = client(f"http://127.0.0.1:{server.port}/prefix/",
                          read_timeout=timeouts.get("read", 5.0))
        await upstream.start()
        upstreams.append(upstream)
        return upstream

    yield make
    for upstream in upstreams:
        await upstream.close()
    for server in servers:
        await server.close()


async def test_the_target_headers_and_body_are_sent_exactly(upstream_for: Any) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(target=request.raw_path, method=request.method, body=await request.read(),
                    headers={k.lower(): v for k, v in request.headers.items()})
        return web.Response(body=b'{"ok":true}', content_type="application/json",
                            headers={"request-id": "req_1"})

    upstream = await upstream_for(handler)
    target = "/v1/messages?note=%2F..%2F&x=%41&y=caf%C3%A9&z=a%20b"
    async with upstream.request("POST", target, {"x-api-key": "sk-p", "anthropic-beta": "b1"},
                                b'{"a":  1}') as reply:
        assert (reply.status, reply.headers["request-id"]) == (200, "req_1")
        assert await reply.read() == b'{"ok":true}'
    assert seen["target"] == "/prefix" + target                # the base URL's path, then ours
    assert (seen["method"], seen["body"]) == ("POST", b'{"a":  1}')
    assert seen["headers"]["x-api-key"] == "sk-p" and seen["headers"]["anthropic-beta"] == "b1"
    assert "user-agent" not in seen["headers"] and "accept-encoding" not in seen["headers"]


@pytest.mark.parametrize("size", [
    upstream_httptools.SEPARATE_BODY_BYTES - 1,    # joined to the head
    upstream_httptools.SEPARATE_BODY_BYTES,        # written after it, uncopied
    900_001,                                       # more than a socket buffer takes at once
])
async def test_a_large_body_is_sent_exactly_and_the_connection_reused(
        upstream_for: Any, size: int) -> None:
    seen: list[tuple[str, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.headers["content-length"], await request.read()))
        return web.Response(body=b"ok")

    upstream = await upstream_for(handler)
    bodies = [bytes(range(256)) * (size // 256) + b"x" * (size % 256),
              bytearray(b"\r\n0\r\n" * (size // 5) + b"e" * (size % 5))]
    for body in bodies:
        async with upstream.request("POST", "/v1/messages", {}, body) as reply:
            assert await reply.read() == b"ok"
    assert seen == [(str(size), bytes(body)) for body in bodies]


async def test_a_streamed_request_body_is_sent_as_it_comes(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"two ", b"three"):
            yield part

    upstream = await upstream_for(handler)
    async with upstream.request("POST", "/v1/files", {}, parts()) as reply:
        assert await reply.read() == b"one two three"


class SourceBroke(Exception):
    pass


async def test_a_request_body_whose_source_fails_ends_the_exchange(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def parts() -> AsyncIterator[bytes]:
        yield b"one "
        await asyncio.sleep(0.05)
        raise SourceBroke

    upstream = await upstream_for(handler, read=30.0)

    async def exchange() -> None:
        async with upstream.request("POST", "/v1/files", {}, parts()) as reply:
            await reply.read()

    with pytest.raises((SourceBroke, UpstreamDropped)):   # at once, not after the read timeout
        await asyncio.wait_for(exchange(), 5)


async def test_the_body_arrives_chunk_by_chunk_and_is_not_decompressed(
    upstream_for: Any
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream",
                                               "content-encoding": "gzip"})
        await response.prepare(request)
        for part in (b"event: a\n", b"data: 1\n\n", b"\x1f\x8b not really gzip"):
            await response.write(part)
            await asyncio.sleep(0.02)
        return response

    upstream = await upstream_for(handler)
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        chunks = [chunk async for chunk in reply.chunks()]
    assert b"".join(chunks) == b"event: a\ndata: 1\n\n\x1f\x8b not really gzip"
    assert len(chunks) == 3                                  # each as it came


async def test_what_arrived_together_comes_as_one_chunk_without_waiting_for_more(
    client: Client
) -> None:
    # Three events in one write: one chunk (one send to the client), handed over while the
    # upstream has not written the rest; a character cut between writes stays cut, untouched.
    events = [b"event: a\ndata: 1\n\n", b"event: b\r\ndata: 2\r\n\r\n", b"data: \xe2\x9c"]
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + b"".join(b"%x\r\n%b\r\n" % (len(e), e) for e in events))
        await writer.drain()
        await release.wait()
        writer.write(b"5\r\n\x93\n\n\n\n\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    upstream = client(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", read_timeout=5)
    try:
        async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
            chunks = reply.chunks()
            first = await asyncio.wait_for(anext(chunks), 2)    # the rest is not written yet
            assert first == b"".join(events)
            release.set()
            assert [chunk async for chunk in chunks] == [b"\x93\n\n\n\n"]
    finally:
        await upstream.close()
        server.close()
        await server.wait_closed()


async def test_an_upstream_nobody_listens_on_is_unreachable(client: Client) -> None:
    upstream = client(f"http://127.0.0.1:{free_port()}", read_timeout=5)
    try:
        with pytest.raises(UpstreamUnreachable):
            async with upstream.request("GET", "/v1/models", {}, b""):
                pass
    finally:
        await upstream.close()


async def test_silence_past_the_read_timeout_is_a_timeout(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: ping\ndata: {}\n\n")
        await asyncio.sleep(5)
        return response

    upstream = await upstream_for(handler, read=0.3)
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        chunks = reply.chunks()
        assert await anext(chunks) == b"event: ping\ndata: {}\n\n"
        with pytest.raises(UpstreamTimeout):
            await anext(chunks)


async def test_the_read_timeout_bounds_each_silence_not_the_whole_stream(
    upstream_for: Any
) -> None:
    # Steady events for longer than the read timeout, a consumer slower than it, then silence.
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(6):
            await response.write(b"event: ping\ndata: {}\n\n")
            await asyncio.sleep(0.15)
        await asyncio.sleep(5)
        return response

    upstream = await upstream_for(handler, read=0.4)
    started = asyncio.get_running_loop().time()
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        chunks = reply.chunks()
        received = await anext(chunks)
        await asyncio.sleep(0.5)             # busy elsewhere, past the read timeout: no matter
        with pytest.raises(UpstreamTimeout):
            async for chunk in chunks:
                received += chunk
        waited = asyncio.get_running_loop().time() - started
    assert received == b"event: ping\ndata: {}\n\n" * 6
    assert 0.75 + 0.4 - 0.05 <= waited < 3.0      # the last event at 0.75 s, then 0.4 s


async def test_a_connection_cut_mid_body_is_a_disconnect(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-length": "1000"})
        await response.prepare(request)
        await response.write(b"partial")
        assert request.transport is not None
        request.transport.close()
        return response

    upstream = await upstream_for(handler)
    for read_all in (False, True):
        with pytest.raises(UpstreamDropped):
            async with upstream.request("GET", "/v1/cut", {}, b"") as reply:
                if read_all:
                    await reply.read()
                else:
                    async for _ in reply.chunks():
                        pass


async def test_leaving_the_block_early_closes_the_connection(upstream_for: Any) -> None:
    closed = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        finished = False
        try:
            for _ in range(250):        # until the server sees the connection gone
                await response.write(b"event: ping\ndata: {}\n\n")
                await asyncio.sleep(0.02)
            finished = True
        finally:                        # cancelled, or a write failed
            if not finished:
                closed.set()
        return response

    upstream = await upstream_for(handler)
    async with upstream.request("GET", "/v1/stream", {}, b"") as reply:
        async for _ in reply.chunks():
            break                               # the client hung up after one chunk
    await asyncio.wait_for(closed.wait(), 5)    # the upstream sees the connection go


def peer_port(request: web.Request) -> int:
    assert request.transport is not None
    port: int = request.transport.get_extra_info("peername")[1]
    return port


async def test_a_finished_connection_is_reused(upstream_for: Any) -> None:
    ports: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        ports.append(peer_port(request))
        return web.Response(body=b"x" * 10)

    upstream = await upstream_for(handler)
    for _ in range(3):
        async with upstream.request("POST", "/v1/messages", {}, b"{}") as reply:
            assert await reply.read() == b"x" * 10
    assert len(ports) == 3 and len(set(ports)) == 1


async def test_an_answer_left_early_or_cut_is_not_reused(upstream_for: Any) -> None:
    ports: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        ports.append(peer_port(request))
        response = web.StreamResponse(headers={"content-length": "100"})
        await response.prepare(request)
        await response.write(b"partial")
        if request.path.endswith("/cut"):
            assert request.transport is not None
            request.transport.close()
            return response
        if request.path.endswith("/slow"):
            await asyncio.sleep(0.2)
        with contextlib.suppress(ConnectionError):
            await response.write(b"y" * 93)
        return response

    upstream = await upstream_for(handler)
    with pytest.raises(UpstreamDropped):
        async with upstream.request("GET", "/v1/cut", {}, b"") as reply:
            await reply.read()
    async with upstream.request("GET", "/v1/slow", {}, b"") as reply:
        async for _ in reply.chunks():
            break                                        # left before the end
    async with upstream.request("GET", "/v1/whole", {}, b"") as reply:
        assert await reply.read() == b"partial" + b"y" * 93
    assert len(set(ports)) == 3                          # a new connection each time


async def test_connection_close_is_honoured(upstream_for: Any) -> None:
    ports: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        ports.append(peer_port(request))
        return web.Response(body=b"ok", headers={"connection": "close"})

    upstream = await upstream_for(handler)
    for _ in range(2):
        async with upstream.request("GET", "/v1/models", {}, b"") as reply:
            assert await reply.read() == b"ok"
    assert len(set(ports)) == 2


async def test_repeated_response_headers_are_all_kept(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=b"{}", content_type="application/json")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        response.headers["Request-Id"] = "req_7"
        return response

    upstream = await upstream_for(handler)
    async with upstream.request("GET", "/v1/models", {}, b"") as reply:
        assert reply.headers["request-id"] == "req_7"             # any case
        assert [v for k, v in reply.headers.items() if k.lower() == "set-cookie"] == [
            "a=1", "b=2"]
        await reply.read()


async def raw_server(answer: bytes) -> tuple[asyncio.Server, int]:
    """A server that reads one request head and writes `answer`, then closes."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("answer", "status", "body"), [
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 200, b"until the end"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
], ids=["1xx skipped", "body ends with the connection", "no body"])
async def test_answers_of_every_framing(client: Client, answer: bytes, status: int,
                                        body: bytes) -> None:
    server, port = await raw_server(answer)
    upstream = client(f"http://127.0.0.1:{port}", read_timeout=5)
    try:
        async with upstream.request("GET", "/v1/models", {}, b"") as reply:
            assert reply.status == status
            assert await reply.read() == body
    finally:
        await upstream.close()
        server.close()
        await server.wait_closed()


async def test_a_malformed_answer_is_a_disconnect(client: Client) -> None:
    server, port = await raw_server(b"HTTP/1.1 2x0 " + SECRET.encode() + b"\r\n\r\n")
    upstream = client(f"http://127.0.0.1:{port}", read_timeout=5)
    try:
        with pytest.raises(UpstreamDropped) as raised:
            async with upstream.request("GET", "/v1/models", {}, b""):
                pass
        assert SECRET not in str(raised.value)
    finally:
        await upstream.close()
        server.close()
        await server.wait_closed()


async def test_silence_before_the_answer_is_a_timeout(upstream_for: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    upstream = await upstream_for(handler, read=0.3)
    with pytest.raises(UpstreamTimeout):
        async with upstream.request("GET", "/v1/models", {}, b""):
            pass


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for `localhost` signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_https_checks_the_certificate(client: Client, tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=request.path.encode() + body[-3:] + str(len(body)).encode())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_tls).start()
    upstream = client(f"https://localhost:{port}/prefix", read_timeout=5)
    try:
        with pytest.raises(UpstreamUnreachable):         # a certificate nobody vouches for
            async with upstream.request("GET", "/v1/models", {}, b""):
                pass
        if isinstance(upstream, HttptoolsUpstream):      # trusted: the same server answers
            await upstream.start()
            assert upstream._ssl is not None
            upstream._ssl.load_verify_locations(cert_file)
            async with upstream.request("GET", "/v1/models", {}, b"") as reply:
                assert await reply.read() == b"/prefix/v1/models0"
            large = b"a" * 300_000 + b"end"       # written after the head, through TLS
            async with upstream.request("POST", "/v1/messages", {}, large) as reply:
                assert await reply.read() == b"/prefix/v1/messagesend300003"
    finally:
        await upstream.close()
        await runner.cleanup()


# The httptools pool's own duties.


async def test_a_stalled_consumer_pauses_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    total = 8 * 1024 * 1024

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-length": str(total)})
        await response.prepare(request)
        for _ in range(total // 65536):
            await response.write(b"z" * 65536)
        return response

    server = await serve(handler)
    upstream = HttptoolsUpstream(f"http://127.0.0.1:{server.port}", read_timeout=5)
    try:
        async with upstream.request("GET", "/v1/big", {}, b"") as reply:
            chunks = reply.chunks()
            received = len(await anext(chunks))
            await asyncio.sleep(0.3)                      # the consumer stalls
            connection = reply._connection
            assert connection is not None and connection.reading_paused
            assert connection.buffered <= upstream_httptools.BUFFER_HIGH + 256 * 1024
            async for chunk in chunks:                    # catches up: reading resumes
                received += len(chunk)
        assert received == total
    finally:
        await upstream.close()
        await server.close()


async def test_an_idle_connection_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_httptools, "IDLE_SECONDS", 0.1)
    ports: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        ports.append(peer_port(request))
        return web.Response(body=b"ok")

    server = await serve(handler)
    upstream = HttptoolsUpstream(f"http://127.0.0.1:{server.port}", read_timeout=5)
    try:
        for _ in range(2):
            async with upstream.request("GET", "/v1/models", {}, b"") as reply:
                assert await reply.read() == b"ok"
            await asyncio.sleep(0.3)
        assert len(set(ports)) == 2 and not upstream._idle
    finally:
        await upstream.close()
        await server.close()


async def test_idle_connections_expire_oldest_first_and_a_used_one_stays(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_httptools, "IDLE_SECONDS", 0.3)

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(body=b"ok")

    async def one(upstream: HttptoolsUpstream) -> None:
        async with upstream.request("GET", "/v1/models", {}, b"") as reply:
            assert await reply.read() == b"ok"

    server = await serve(handler)
    upstream = HttptoolsUpstream(f"http://127.0.0.1:{server.port}", read_timeout=5)
    try:
        await asyncio.gather(one(upstream), one(upstream))     # two connections, both idle
        assert len(upstream._idle) == 2
        await asyncio.sleep(0.2)
        await one(upstream)         # the newer one, used again: idle from now on
        await asyncio.sleep(0.2)    # the other has been idle past IDLE_SECONDS
        assert len(upstream._idle) == 1
        await asyncio.sleep(0.3)
        assert not upstream._idle
    finally:
        await upstream.close()
        await server.close()


async def test_a_reused_connection_times_out_on_its_own_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The read timer of a connection's earlier wait does not end a later wait early, and
    the later one still times out."""
    delays = [0.0, 0.0, 0.6]

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delays.pop(0))
        return web.Response(body=b"ok")

    server = await serve(handler)
    upstream = HttptoolsUpstream(f"http://127.0.0.1:{server.port}", read_timeout=0.3)
    try:
        async with upstream.request("GET", "/v1/models", {}, b"") as reply:
            assert await reply.read() == b"ok"
        await asyncio.sleep(0.2)    # the first wait's timer is due at 0.3 s: within the next
        async with upstream.request("GET", "/v1/models", {}, b"") as reply:
            await asyncio.sleep(0.05)
            assert await reply.read() == b"ok"      # answered 0.25 s after it was asked
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout):
            async with upstream.request("GET", "/v1/models", {}, b"") as reply:
                await reply.read()
        assert asyncio.get_running_loop().time() - started >= 0.25
    finally:
        await upstream.close()
        await server.close()


async def test_a_reused_connection_makes_no_timer_per_exchange() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"ok")

    server = await serve(handler)
    upstream = HttptoolsUpstream(f"http://127.0.0.1:{server.port}", read_timeout=5)
    loop = asyncio.get_running_loop()
    timers: list[str] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        owner = getattr(callback, "__self__", None)     # the pool's or a connection's
        if type(owner).__module__ == upstream_httptools.__name__:
            timers.append(callback.__qualname__)
        if getattr(callback, "func", None) is not None:     # a partial (fail, UpstreamTimeout)
            timers.append(getattr(callback.func, "__qualname__", "?"))
        return call_at(when, callback, *args, **kwargs)

    try:
        for _ in range(3):          # a connection, its read timer, the pool's idle timer
            async with upstream.request("GET", "/v1/models", {}, b"") as reply:
                assert await reply.read() == b"ok"
        made = len(timers)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(loop, "call_at", counting)
            patch.setattr(loop, "call_later", lambda delay, callback, *a, **k: counting(
                loop.time() + delay, callback, *a, **k))
            timers.clear()
            for _ in range(20):
                async with upstream.request("GET", "/v1/models", {}, b"") as reply:
                    assert await reply.read() == b"ok"
        assert timers == [], made
    finally:
        await upstream.close()
        await server.close()
