"""Bounds on request headers: past the configured count or size a request gets 431
`request_too_large` in the API's format — before routing and authentication, with nothing of it
kept, logged or relayed — and the HTTP server refuses an oversized head while it arrives, without
buffering it (llhttp has no bound of its own)."""

import socket
import time

import httpx
import orjson
import pytest

from zdr.gateway.header_limits import HeaderLimits
from zdr.gateway.server_protocol import REQUEST_LINE_BYTES, BoundedHeadProtocol
from zdr.testing.harness import GatewayHarness

MSG = {"model": "claude-sonnet-5", "max_tokens": 8,
       "messages": [{"role": "user", "content": "hello"}]}
CANARY = "HDRCANARY5d1e"


@pytest.mark.parametrize(("headers", "exceeded"), [
    ([], False),
    ([(b"a", b"b" * 95)], False),                    # 1 + 95 + 4 = 100 bytes: at the bound
    ([(b"a", b"b" * 96)], True),                     # one byte over
    ([(b"x-%d" % i, b"") for i in range(10)], False),   # 10 headers: at the bound
    ([(b"x-%d" % i, b"") for i in range(11)], True),
])
def test_bounds_count_names_values_and_separators(headers, exceeded):
    assert HeaderLimits(max_bytes=100, max_count=10).exceeded(headers) is exceeded


def assert_too_large(response):
    assert response.status_code == 431
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "request_too_large"
    assert "headers" in body["error"]["message"] and CANARY not in response.text
    assert body["request_id"] == response.headers["request-id"]
    assert response.headers["zdr-retention"] == "none"


@pytest.fixture
def small_limits(stub, tmp_path):
    with GatewayHarness(tmp_path / "home", stub.url, max_header_bytes=4096,
                        max_header_count=20) as gw:
        yield gw


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/nowhere"])
@pytest.mark.parametrize("shape", ["too-many", "too-big"])
def test_over_the_limits_is_431_before_auth_and_nothing_is_kept(stub, small_limits, path, shape):
    gw = small_limits
    secret, _ = gw.directory.create_key("limits-org", zdr=True)
    extra = ({f"x-h{i}": CANARY for i in range(25)} if shape == "too-many"
             else {"x-big": CANARY * 400})
    upstream_before = stub.stub.stats.requests
    response = httpx.post(gw.url + path, json=MSG, timeout=10,
                          headers={"x-api-key": secret, **extra})
    assert_too_large(response)
    assert stub.stub.stats.requests == upstream_before
    assert gw.sink.metadata == [] and gw.sink.retained == []
    assert CANARY not in gw.logs.text()
    assert '"status":431' in gw.logs.text()          # refused, and said so without the values


def test_within_the_limits_is_served(small_limits):
    gw = small_limits
    secret, _ = gw.directory.create_key("limits-ok")
    # 18 headers in all with httpx's own; well under 4096 bytes
    extra = {f"x-h{i}": "v" * 100 for i in range(12)}
    response = httpx.post(gw.url + "/v1/messages", json=MSG, timeout=10,
                          headers={"x-api-key": secret, **extra})
    assert response.status_code == 200
    assert len(response.request.headers) <= 20


def test_a_key_bearing_request_past_the_limits_never_reaches_the_key_cache(small_limits):
    gw = small_limits
    looked_up = []
    directory = gw.directory
    original = directory.principal_for

    async def spy(key_hash):
        looked_up.append(key_hash)
        return await original(key_hash)

    directory.principal_for = spy
    secret, _ = directory.create_key("limits-auth")
    response = httpx.get(gw.url + "/v1/models", timeout=10,
                         headers={"x-api-key": secret, "x-big": "a" * 5000})
    assert_too_large(response)
    assert looked_up == []


def raw_exchange(port, head_chunks, *, pause=0.0):
    """Send a request head chunk by chunk; return (answer bytes, bytes sent before it came)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent = 0
    answer = b""
    try:
        for chunk in head_chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            sock.setblocking(False)
            try:
                answer = sock.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            finally:
                sock.setblocking(True)
            if answer:
                break
            if pause:
                time.sleep(pause)
        sock.settimeout(10)
        while True:
            try:
                more = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not more:
                break
            answer += more
    finally:
        sock.close()
    return answer, sent


def parse_answer(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    return status, headers, body


def test_the_server_refuses_a_huge_head_while_it_arrives(stub, tmp_path):
    """A 4 MB header: answered 431 in the API's format long before it is all sent."""
    with GatewayHarness(tmp_path / "home", stub.url) as gw:
        chunks = [b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-big: "]
        chunks += [CANARY.encode() * 1000] * 300          # ~4 MB, 13 KB at a time
        answer, sent = raw_exchange(gw.port, chunks, pause=0.002)
        status, headers, body = parse_answer(answer)
        assert status == 431 and headers[b"content-type"] == b"application/json"
        error = orjson.loads(body)
        assert error["type"] == "error" and error["error"]["type"] == "request_too_large"
        assert error["request_id"] == headers[b"request-id"].decode()
        assert sent <= BoundedHeadProtocol.max_head_bytes + 256 * 1024     # not 4 MB
        assert CANARY.encode() not in answer and CANARY not in gw.logs.text()
        assert gw.sink.metadata == []
        # the server is fine afterwards
        assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200


def test_the_server_bound_leaves_room_for_the_configured_limits():
    limits = BoundedHeadProtocol.limits
    assert BoundedHeadProtocol.max_head_bytes == limits.max_bytes + REQUEST_LINE_BYTES


def test_a_head_split_across_reads_within_the_bound_is_served(stub, tmp_path):
    """Headers that arrive a few bytes at a time, and a body in the same read as the end of the
    head, are counted right: the request is served."""
    with GatewayHarness(tmp_path / "home", stub.url) as gw:
        secret, _ = gw.directory.create_key("split-org")
        body = orjson.dumps(MSG)
        head = (f"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {secret}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                f"x-pad: {'p' * 20000}\r\n\r\n").encode()
        wire = head + body
        chunks = [wire[i:i + 7] for i in range(0, 200, 7)] + [wire[200:]]
        answer, _ = raw_exchange(gw.port, chunks)
        status, _, _ = parse_answer(answer)
        assert status == 200
