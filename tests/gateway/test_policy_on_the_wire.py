"""Refusals and retention labels the client sees for the policy's newer rules, end to end
through the gateway (the upstream is never asked for a refused request)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from zdr.testing.canaries import new_canary

CLI = {"user-agent": "claude-cli/2.1.332 (external, cli)", "x-app": "cli",
       "anthropic-dangerous-direct-browser-access": "true"}


def message(model: Any, text: str = "hello") -> bytes:
    return orjson.dumps({"model": model, "max_tokens": 8,
                         "messages": [{"role": "user", "content": text}]})


def post(gw: Any, key: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/messages", content=body, timeout=10,
                      headers={"x-api-key": key, "content-type": "application/json", **headers})


def assert_refused(answer: httpx.Response, status: int, error_type: str, canary: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert canary not in answer.text
    return str(body["error"]["message"])


@pytest.mark.parametrize("model", [["claude-mythos-5"], 5, {"id": "claude-mythos-5"}, None])
def test_a_model_that_is_not_a_string_is_a_400(stub: Any, gateway: Any, model: Any) -> None:
    key, _ = gateway.directory.create_key(f"bad-model-{type(model).__name__}", zdr=True)
    canary = new_canary("MODEL")
    before = stub.stub.stats.requests
    message_text = assert_refused(post(gateway, key, message(model, canary)), 400,
                                  "invalid_request_error", canary)
    assert "model: Input should be a valid string" in message_text
    assert stub.stub.stats.requests == before


def test_a_covered_model_in_other_letters_is_still_covered(stub: Any, gateway: Any) -> None:
    key, _ = gateway.directory.create_key("mixed-case", zdr=True)
    before = stub.stub.stats.requests
    text = assert_refused(post(gateway, key, message("Claude-Mythos-5")), 400,
                          "invalid_request_error", "ZDRCANARY")
    assert "must have data retention enabled" in text
    assert stub.stub.stats.requests == before


def test_a_hipaa_org_without_zdr_cannot_use_claude_code(stub: Any, gateway: Any) -> None:
    key, _ = gateway.directory.create_key("hipaa-cli", hipaa=True)
    text = assert_refused(post(gateway, key, message("claude-sonnet-5"), **CLI), 400,
                          "invalid_request_error", "ZDRCANARY")
    assert text == ("The requested features are not available for HIPAA-regulated "
                    "organizations without Zero Data Retention: claude_code_api.")


def test_a_hipaa_org_with_zdr_can_use_claude_code(stub: Any, gateway: Any) -> None:
    key, _ = gateway.directory.create_key("hipaa-zdr-cli", hipaa=True, zdr=True)
    body = orjson.dumps({"model": "claude-sonnet-5", "max_tokens": 8,
                         "messages": [{"role": "user", "content": "hello"}],
                         "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}})
    answer = post(gateway, key, body, **CLI)
    assert answer.status_code == 200, answer.text
    assert answer.headers["zdr-retention"] == "zero"


def test_a_browser_origin_is_refused_under_zdr(stub: Any, gateway: Any) -> None:
    key, _ = gateway.directory.create_key("browser-zdr", zdr=True)
    assert_refused(post(gateway, key, message("claude-sonnet-5"),
                        origin="https://app.example.com"), 403, "permission_error", "ZDRCANARY")


def test_a_standard_orgs_files_and_batches_are_not_labelled_30_days(stub: Any,
                                                                   gateway: Any) -> None:
    """What a files or batches request carries is held upstream, never here: the header names
    the artifact's period, not the 30 days content would be kept."""
    key, _ = gateway.directory.create_key("plain-artifacts")
    uploaded = httpx.post(gateway.url + "/v1/files", headers={"x-api-key": key},
                          files={"file": ("n.txt", b"data")})
    assert uploaded.status_code == 200 and uploaded.headers["zdr-retention"] == "until-deleted"
    batch = orjson.dumps({"requests": [{"custom_id": "a", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}]}}]})
    created = httpx.post(gateway.url + "/v1/messages/batches", content=batch,
                         headers={"x-api-key": key, "content-type": "application/json"})
    assert created.status_code == 200 and created.headers["zdr-retention"] == "29d"
    assert gateway.sink.retained == []
