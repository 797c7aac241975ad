"""`zdr serve` as deployed (real store, logs, the stand-in upstream it starts), against what a
client chooses: names (a model id, parameter keys, tool types, context-edit types, a path
segment) that a ZDR org's record must not keep in clear — `zdr verify --canary` finds none of them
in the database, its WAL, the logs or the server's output — and request heads past the header
limits, answered 431 in the API's format by the server itself."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serve_process import Served, ZdrHome

pytestmark = pytest.mark.slow


@pytest.fixture
def served_with_orgs(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    """A home set up as the README does (an `api` org with ZDR approved, a standard one), and
    `zdr serve` on it, with each org's key; stopped (SIGTERM: logs flushed, store drained) by the
    test or at the end."""
    home = ZdrHome.fresh(tmp_path / "home")
    home.zdr("init", "--admin-email", "admin@provider.example")
    home.zdr("users", "create", "reviewer@provider.example", "--provider-role", "reviewer")
    keys = {org: home.org_with_key(org) for org in ("zdr-org", "standard-org")}
    home.zdr("orgs", "request-zdr", "zdr-org")
    home.zdr("orgs", "approve-zdr", "zdr-org", "--as", "reviewer@provider.example")
    with home.serve() as served:
        yield served, keys


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`zdr serve` on a fresh home (no store yet: in-memory ports), for what comes before auth;
    a request head must arrive within `HEAD_TIMEOUT` seconds."""
    home = ZdrHome.fresh(tmp_path_factory.mktemp("serve-heads") / "home",
                         ZDR_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT))
    with home.serve() as served:
        yield served


HEAD_TIMEOUT = 3


def message(**extra):
    return {"model": "claude-sonnet-5", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hello"}], **extra}


def test_names_a_zdr_org_chooses_reach_no_file(
        served_with_orgs: tuple[Served, dict[str, str]]) -> None:
    served, keys = served_with_orgs
    # one canary per way in: a finding would say which one leaked
    canary = {way: f"zdrcanary_{way}_{os.getpid()}_{int(time.time())}" for way in (
        "model", "stream_model", "param", "tool", "edit", "count_param", "batch_param",
        "models_path")}
    control = f"zdrcanary_standard_{os.getpid()}"
    zdr_key = {"x-api-key": keys["zdr-org"]}

    def post(path, body, key=zdr_key):
        return httpx.post(served.url + path, json=body, headers=key, timeout=20)

    answered = post("/v1/messages", message(model=canary["model"]))
    assert answered.status_code == 200 and answered.headers["zdr-retention"] == "zero"
    with httpx.stream("POST", served.url + "/v1/messages", headers=zdr_key, timeout=20,
                      json=message(model=canary["stream_model"], stream=True)) as stream:
        assert stream.status_code == 200 and "message_stop" in stream.read().decode()
    for way, body in (("param", message(**{canary["param"]: 1})),
                      ("tool", message(tools=[{"type": canary["tool"], "name": "t"}])),
                      ("edit", message(context_management={"edits": [{"type": canary["edit"]}]}))):
        refused = post("/v1/messages", body)
        assert refused.status_code == 400, way
        assert canary[way] in refused.json()["error"]["message"]    # the client is told
    assert post("/v1/messages/count_tokens",
                message(**{canary["count_param"]: 1})).status_code == 400
    assert post("/v1/messages/batches", {"requests": [{"custom_id": "a", "params": message(
        **{canary["batch_param"]: 1})}]}).status_code == 400
    httpx.get(served.url + f"/v1/models/{canary['models_path']}", headers=zdr_key, timeout=20)
    # the control: a standard org's unknown model id is metadata it may keep as it is
    assert post("/v1/messages", message(model=control),
                key={"x-api-key": keys["standard-org"]}).status_code == 200
    served.stop()

    clean = served.home.zdr("verify", "--json", "--quiet", "--scan-path",
                            str(served.output_path),
                            *(arg for c in canary.values() for arg in ("--canary", c)),
                            check=False)
    report = json.loads(clean.stdout)
    canaries = next(c for c in report["checks"] if c["name"] == "canaries")
    assert canaries["status"] == "ok", canaries["violations"]
    assert report["ok"], [c for c in report["checks"] if c["status"] == "violations"]
    assert clean.returncode == 0
    found = served.home.zdr("verify", "--json", "--quiet", "--canary", control, check=False)
    assert found.returncode == 1
    checks = json.loads(found.stdout)["checks"]
    where = [v["where"] for c in checks if c["name"] == "canaries" for v in c["violations"]]
    assert any("zdr.sqlite3" in w for w in where), where


def raw_head(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)       # the server reads the rest of a refused head: no reset
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(("name", "head"), [
    # past the server's own bound on a head: answered while it arrives
    ("one huge header", b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: "
     + b"h" * (2 * 1024 * 1024) + b"\r\n\r\n"),
    # within that bound, past the configured limits: answered by the gateway's check
    ("many headers", b"GET /v1/models HTTP/1.1\r\nhost: x\r\n"
     + b"".join(b"x-h%d: v\r\n" % i for i in range(150)) + b"\r\n"),
    ("40 KB of headers", b"GET /v1/models HTTP/1.1\r\nhost: x\r\n"
     + b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 1000) for i in range(40)) + b"\r\n"),
    # the control plane's paths too (they share the server)
    ("admin path", b"GET /admin/v1/me HTTP/1.1\r\nhost: x\r\nx-big: " + b"h" * 40_000
     + b"\r\n\r\n"),
])
def test_oversized_heads_are_431_in_the_api_format(served: Served, name: str,
                                                    head: bytes) -> None:
    answer = raw_head(served.port, head[:-2] + b"connection: close\r\n\r\n")
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"431", (name, answer[:200])
    headers_blob, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in headers_blob.lower()
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "request_too_large"
    assert "100 headers" in error["error"]["message"]
    assert httpx.get(served.url + "/healthz", timeout=20).status_code == 200   # still serving


def api_error(answer: bytes, status: bytes) -> dict:
    """The answer's error object, after checking its status, JSON type and that it quotes none
    of `CANARY`."""
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == status, answer[:300]
    headers_blob, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in headers_blob.lower()
    assert CANARY not in answer
    error = json.loads(body)
    assert error["type"] == "error"
    return error["error"]


CANARY = b"zdrcanaryhttp"
POST_HEAD = b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: " + CANARY + b"\r\n"


@pytest.mark.parametrize(("name", "request_bytes"), [
    ("NUL in the target", b"GET /v1/mo\x00" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("control byte in the target", b"GET /v1/\x01" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("non-ASCII in the target", b"GET /v1/\xc3\xa9" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("DEL in the target", b"GET /v1/\x7f" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("bad method", b"G@T /v1/" + CANARY + b" HTTP/1.1\r\nhost: x\r\n\r\n"),
    ("bad version", b"GET /v1/" + CANARY + b" HTTP/9.7\r\nhost: x\r\n\r\n"),
    ("space in a header name", b"GET /v1/models HTTP/1.1\r\nho st: " + CANARY + b"\r\n\r\n"),
    ("NUL in a header value", b"GET /v1/models HTTP/1.1\r\nx-a: \x00" + CANARY + b"\r\n\r\n"),
    ("bare LF line", b"GET /v1/models HTTP/1.1\nhost: x\n" + CANARY + b"\n\n"),
    ("chunk size not hex", POST_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n"
     + CANARY + b"\r\n0\r\n\r\n"),
    ("chunk longer than its size", POST_HEAD + b"transfer-encoding: chunked\r\n\r\n2\r\n"
     + CANARY + b"\r\n0\r\n\r\n"),
    ("transfer-encoding and content-length", POST_HEAD + b"content-length: 5\r\n"
     b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n" + CANARY),
    ("two content-lengths", POST_HEAD + b"content-length: 5\r\ncontent-length: 6\r\n\r\n"
     + CANARY),
    ("content-length not a number", POST_HEAD + b"content-length: 5x\r\n\r\n" + CANARY),
])
def test_malformed_http_is_400_in_the_api_format(served: Served, name: str,
                                                 request_bytes: bytes) -> None:
    """What llhttp refuses is answered by the server in the API's error format, quoting
    nothing (uvicorn's own answer was `400 Bad Request` in plain text)."""
    error = api_error(raw_head(served.port, request_bytes), b"400")
    assert error["type"] == "invalid_request_error", name
    assert "not valid HTTP/1.1" in error["message"]
    assert httpx.get(served.url + "/healthz", timeout=20).status_code == 200   # still serving


@pytest.mark.parametrize("sent", [b"", b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-slow: "])
def test_a_head_that_does_not_arrive_in_time_is_408(served: Served, sent: bytes) -> None:
    """Slowloris: a connection that sends nothing, or trickles its head, is answered and closed
    after the head timeout instead of being held open for ever."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(sent)
        answer = b""
        for _ in range(HEAD_TIMEOUT * 2):      # a byte a second: the timer does not restart
            time.sleep(1)
            if sent:
                try:
                    sock.sendall(b"a")
                except OSError:
                    break
        while chunk := sock.recv(65536):
            answer += chunk
    assert time.monotonic() - started < HEAD_TIMEOUT + 20
    error = api_error(answer, b"408")
    assert error["type"] == "timeout_error"
