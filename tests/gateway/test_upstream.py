"""What crosses to the upstream and back, and the error body written for an upstream's error
status when its own is not in the API's format."""

import orjson
import pytest

from zdr.gateway import upstream


def test_request_headers_carry_the_gateway_credential_not_the_clients():
    headers = {
        "x-api-key": "sk-client", "authorization": "Bearer sk-client", "cookie": "a=b",
        "connection": "keep-alive", "transfer-encoding": "chunked", "te": "trailers",
        "anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024",
        "content-type": "application/json", "x-stub-latency-ms": "5", "origin": "https://x",
    }
    out = upstream.request_headers(headers, "sk-provider", forward_knobs=False)
    assert out == {"anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024",
                   "content-type": "application/json", "x-api-key": "sk-provider"}
    with_knobs = upstream.request_headers(headers, "sk-provider", forward_knobs=True)
    assert with_knobs["x-stub-latency-ms"] == "5" and "authorization" not in with_knobs


def test_default_anthropic_version():
    assert upstream.request_headers({}, "k", forward_knobs=False)["anthropic-version"]


def test_response_headers_allow_list():
    out = dict(upstream.response_headers({
        "anthropic-ratelimit-requests-remaining": "9", "retry-after": "3",
        "set-cookie": "x", "connection": "close", "x-should-retry": "true", "server": "x"}))
    assert out == {b"anthropic-ratelimit-requests-remaining": b"9", b"retry-after": b"3",
                   b"x-should-retry": b"true"}


@pytest.mark.parametrize(("status", "error_type"), [
    (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
    (404, "not_found_error"), (413, "request_too_large"), (429, "rate_limit_error"),
    (500, "api_error"), (502, "api_error"), (504, "timeout_error"), (529, "overloaded_error"),
    (418, "invalid_request_error"),
])
def test_error_body_is_written_here_when_the_upstreams_is_not_api_shaped(status, error_type):
    body = orjson.loads(upstream.error_body(status, b"<html>bad gateway</html>", "req_1"))
    assert body == {"type": "error", "error": {"type": error_type,
                                               "message": f"The upstream API answered {status}."},
                    "request_id": "req_1"}


def test_api_shaped_error_body_passes_through_unchanged():
    original = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert upstream.error_body(529, original, "req_1") is original
