"""Bad input at the gateway's public API (docs/DESIGN.md §6): malformed JSON, wrong types, deep or
huge bodies, invalid UTF-8, header injection, unknown routes and methods, oversized streams.

Every case must get a 4xx in the API's error format `{"type": "error", "error": {type, message}}`,
never a 5xx; nothing of it may be kept (the sink sees no content) and the canary it carries must
not come back in the response or show in the logs."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import orjson
import pytest
from gateway_under_fuzz import MAX_BODY, FuzzGateway
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strict_upstream import valid_messages_request

from zdr.gateway.paths import PathRefused, request_target
from zdr.verify.canary_forms import canary_forms

ORGS = ("zdr", "standard", "hipaa", "enterprise")
_serial = itertools.count()
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


def new_canary() -> str:
    return f"FUZZCANARY-{next(_serial):06d}-c4n4ry"


def headers_for(gateway: FuzzGateway, org: str, *extra: tuple[bytes, bytes]) -> list[
        tuple[bytes, bytes]]:
    return [(b"x-api-key", gateway.keys[org].encode()),
            (b"content-type", b"application/json"),
            (b"anthropic-version", b"2023-06-01"), *extra]


def base_request(canary: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 16,
            "messages": [{"role": "user", "content": f"hello {canary}"}]}


def assert_refused_without_trace(gateway: FuzzGateway, answer: Any, canary: str) -> None:
    """A 4xx in the error format; no content kept; the canary nowhere it must not be."""
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    body = orjson.loads(answer.body)
    assert body["type"] == "error"
    assert (isinstance(body["error"]["type"], str) and body["error"]["type"].endswith("_error")) \
        or body["error"]["type"] == "request_too_large"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    forms = list(canary_forms(canary).values())
    header_bytes = b"\n".join(k + b": " + v for k, v in answer.headers)
    logs = gateway.logs.text().encode()
    for form in forms:
        assert form not in answer.body, "the canary came back in the error body"
        assert form not in header_bytes, "the canary came back in a response header"
        assert form not in logs, "the canary reached the logs"
    assert all(b"\r" not in v and b"\n" not in v for _, v in answer.headers)
    assert gateway.kept_content() == [], "content was kept for a refused request"
    assert not any(canary in text for item in gateway.safety.items for text in item[1:])


# -- bodies ------------------------------------------------------------------------------------

@FUZZ
@given(org=st.sampled_from(ORGS), before=st.binary(max_size=64), after=st.binary(max_size=64),
       invalid_utf8=st.booleans())
def test_bodies_that_are_not_json_objects(
    fuzz_gateway: FuzzGateway, org: str, before: bytes, after: bytes, invalid_utf8: bool
) -> None:
    canary = new_canary()
    body = before + (b"\xff\xfe\xc0" if invalid_utf8 else b"") + canary.encode() + after
    with contextlib.suppress(orjson.JSONDecodeError):
        assume(not isinstance(orjson.loads(body), dict))
    answer = fuzz_gateway.request("POST", "/v1/messages", headers_for(fuzz_gateway, org), [body])
    assert_refused_without_trace(fuzz_gateway, answer, canary)


@FUZZ
@given(org=st.sampled_from(ORGS), value=json_values.filter(lambda v: not isinstance(v, dict)))
def test_json_that_is_not_an_object(fuzz_gateway: FuzzGateway, org: str, value: Any) -> None:
    canary = new_canary()
    body = orjson.dumps([value, canary])
    answer = fuzz_gateway.request("POST", "/v1/messages", headers_for(fuzz_gateway, org), [body])
    assert_refused_without_trace(fuzz_gateway, answer, canary)


FIELDS = ("model", "max_tokens", "messages", "stream", "system", "tools", "tool_choice",
          "metadata", "mcp_servers", "container", "thinking", "temperature", "stop_sequences")


@FUZZ
@given(org=st.sampled_from(ORGS), route=st.sampled_from(["/v1/messages",
                                                         "/v1/messages/count_tokens"]),
       changes=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4),
       where=st.sampled_from(["content", "system", "metadata", "tool"]))
def test_messages_requests_with_wrong_types(
    fuzz_gateway: FuzzGateway, org: str, route: str, changes: dict[str, Any], where: str
) -> None:
    canary = new_canary()
    body = {**base_request(canary), **changes}
    if where == "system":
        body["system"] = [canary, body.get("system")]
    elif where == "metadata":
        body["metadata"] = {"user_id": canary, "x": body.get("metadata")}
    elif where == "tool":
        body["tools"] = [{"name": canary, "input_schema": body.get("tools")}]
    assume(not valid_messages_request(body))
    answer = fuzz_gateway.request("POST", route, headers_for(fuzz_gateway, org),
                                  [orjson.dumps(body)])
    assert_refused_without_trace(fuzz_gateway, answer, canary)


@settings(FUZZ, max_examples=25)
@given(org=st.sampled_from(ORGS), depth=st.integers(min_value=20, max_value=3000),
       kind=st.sampled_from(["list", "dict"]))
def test_deeply_nested_bodies(fuzz_gateway: FuzzGateway, org: str, depth: int, kind: str) -> None:
    canary = new_canary()
    inner = orjson.dumps(canary)
    nested = (b"[" * depth + inner + b"]" * depth if kind == "list"
              else b'{"a":' * depth + inner + b"}" * depth)
    body = (b'{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user",'
            b'"content":' + nested + b"}]}")
    answer = fuzz_gateway.request("POST", "/v1/messages", headers_for(fuzz_gateway, org), [body])
    assert_refused_without_trace(fuzz_gateway, answer, canary)


@settings(FUZZ, max_examples=20)
@given(org=st.sampled_from(ORGS), excess=st.integers(min_value=1, max_value=3 * MAX_BODY),
       framing=st.sampled_from(["declared", "chunked", "understated"]), stream=st.booleans())
def test_huge_bodies_and_oversized_streams(
    fuzz_gateway: FuzzGateway, org: str, excess: int, framing: str, stream: bool
) -> None:
    canary = new_canary()
    request = {**base_request(canary), "stream": stream}
    request["messages"][0]["content"] = canary + "x" * (MAX_BODY + excess)
    body = orjson.dumps(request)
    extra: list[tuple[bytes, bytes]] = []
    if framing == "declared":
        chunks, extra = [body], [(b"content-length", str(len(body)).encode())]
    elif framing == "understated":              # a lying content-length: the bytes still count
        chunks, extra = [body[i:i + 4096] for i in range(0, len(body), 4096)], [
            (b"content-length", b"10")]
    else:
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    answer = fuzz_gateway.request("POST", "/v1/messages",
                                  headers_for(fuzz_gateway, org, *extra), chunks)
    assert answer.status == 413
    assert_refused_without_trace(fuzz_gateway, answer, canary)


# -- headers -----------------------------------------------------------------------------------

header_names = st.binary(min_size=1, max_size=24).map(bytes.lower)
header_values = st.binary(max_size=120)


@FUZZ
@given(org=st.sampled_from(ORGS), injected=header_values, placement=st.sampled_from(
    ["suffix", "prefix", "crlf", "bearer", "duplicate-garbage-last"]))
def test_api_key_header_injection_is_refused(
    fuzz_gateway: FuzzGateway, org: str, injected: bytes, placement: str
) -> None:
    """A key with anything around it, smuggled lines or a later duplicate is not a key."""
    canary = new_canary()
    key = fuzz_gateway.keys[org].encode()
    if placement == "suffix":
        headers = [(b"x-api-key", key + b"\x00" + injected)]
    elif placement == "prefix":
        headers = [(b"x-api-key", b"x" + injected + key)]
    elif placement == "crlf":
        headers = [(b"x-api-key", b"bogus\r\nx-api-key: " + key + injected)]
    elif placement == "bearer":
        headers = [(b"authorization", b"Bearer\r\n " + key + injected)]
    else:
        headers = [(b"x-api-key", key), (b"x-api-key", b"sk-zdr-" + injected)]
    headers += [(b"content-type", b"application/json"), (b"x-note", canary.encode())]
    answer = fuzz_gateway.request("POST", "/v1/messages", headers,
                                  [orjson.dumps(base_request(canary))])
    assert answer.status == 401
    assert_refused_without_trace(fuzz_gateway, answer, canary)


@FUZZ
@given(extra=st.lists(st.tuples(header_names, header_values), max_size=8),
       origin=header_values)
def test_browser_requests_of_a_zdr_org_are_refused_whatever_else_is_sent(
    fuzz_gateway: FuzzGateway, extra: list[tuple[bytes, bytes]], origin: bytes
) -> None:
    canary = new_canary()
    extra = [(name, value) for name, value in extra
             if name not in (b"x-api-key", b"authorization", b"origin", b"content-length")]
    headers = [*headers_for(fuzz_gateway, "zdr"), *extra, (b"origin", b"https://" + origin)]
    answer = fuzz_gateway.request("POST", "/v1/messages", headers,
                                  [orjson.dumps(base_request(canary))])
    assert_refused_without_trace(fuzz_gateway, answer, canary)


# -- routes and methods ------------------------------------------------------------------------

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
           "PROPFIND", "FOO")


@FUZZ
@given(path=st.text(max_size=60).map(lambda p: "/" + p), method=st.sampled_from(METHODS),
       query=st.binary(max_size=40), org=st.sampled_from((*ORGS, None)))
def test_unknown_routes_and_methods(
    fuzz_gateway: FuzzGateway, path: str, method: str, query: bytes, org: str | None
) -> None:
    # As the driver sends it: raw_path is the path's UTF-8 bytes (zdr.gateway.paths reads those).
    target = request_target({"raw_path": path.encode("utf-8", "surrogateescape"),
                             "query_string": query})
    matched = None if isinstance(target, PathRefused) else fuzz_gateway.app.router.match(
        target.path)
    assume(path not in ("/healthz", "/readyz", "/metrics"))
    assume(matched is None or method not in matched.route.methods)
    canary = new_canary()
    headers = (headers_for(fuzz_gateway, org) if org else []) + [(b"x-note", canary.encode())]
    answer = fuzz_gateway.request(method, path, headers,
                                  [orjson.dumps(base_request(canary))], query=query)
    expected = 400 if isinstance(target, PathRefused) else 404 if matched is None else 405
    assert answer.status == expected
    assert_refused_without_trace(fuzz_gateway, answer, canary)


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/models",
                                  "/v1/messages/batches", "/v1/files"])
def test_every_api_route_wants_a_key(fuzz_gateway: FuzzGateway, path: str) -> None:
    canary = new_canary()
    method = "GET" if path in ("/v1/models", "/v1/files") else "POST"
    answer = fuzz_gateway.request(method, path, [(b"content-type", b"application/json")],
                                  [orjson.dumps(base_request(canary))])
    assert answer.status == 401
    assert_refused_without_trace(fuzz_gateway, answer, canary)


def test_the_fuzz_reached_the_upstream(fuzz_gateway: FuzzGateway) -> None:
    """Guard against a vacuous run: wrong-typed bodies were relayed and refused upstream, and
    the strict upstream never answered one as valid."""
    canary = new_canary()
    answer = fuzz_gateway.request("POST", "/v1/messages", headers_for(fuzz_gateway, "zdr"),
                                  [orjson.dumps({**base_request(canary), "max_tokens": "16"})])
    assert answer.status == 400
    assert fuzz_gateway.upstream.received > 0
    assert fuzz_gateway.upstream.answered_ok == 0


def test_the_trace_check_itself_catches_a_leak(fuzz_gateway: FuzzGateway) -> None:
    """The assertion every case relies on fails on an echoed canary and on a 5xx."""
    from asgi_driver import Answer

    canary = new_canary()
    echo = Answer(400, [], orjson.dumps({"type": "error", "error": {
        "type": "invalid_request_error", "message": f"bad field near {canary}"}}))
    with pytest.raises(AssertionError, match="came back in the error body"):
        assert_refused_without_trace(fuzz_gateway, echo, canary)
    crash = Answer(500, [], orjson.dumps({"type": "error", "error": {
        "type": "api_error", "message": "boom"}}))
    with pytest.raises(AssertionError):
        assert_refused_without_trace(fuzz_gateway, crash, canary)
