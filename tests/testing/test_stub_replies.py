"""The stand-in upstream answers Claude Code's requests as the API does and usefully for the CLI:
the user's own words echoed, tool calls only when asked for, the tool's result after a tool turn,
the full SSE event sequence, and API-shaped errors for unknown routes and unparseable bodies."""

from __future__ import annotations

import json

import httpx
import pytest

from zdr.testing.servers import StubThread
from zdr.testing.stub_replies import (
    ToolCall,
    claude_code_reply,
    input_json_parts,
    is_claude_code,
    prompt_of,
    requested_tool_call,
)

CLAUDE_CODE_BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,"
                     "context-management-2025-06-27")
REMINDER = "<system-reminder>\nAttribution for git commits ...\n</system-reminder>\n"
TOOLS = [{"name": "Agent", "input_schema": {"type": "object"}},
         {"name": "Bash", "input_schema": {"type": "object"}},
         {"name": "DeferredToolPlaceholder", "defer_loading": True,
          "input_schema": {"type": "object"}}]


def claude_code_body(*turns, stream=True):
    """A request shaped as Claude Code 2.1 sends it (system turn and all)."""
    return {"model": "claude-opus-5-5", "max_tokens": 128000, "stream": stream, "tools": TOOLS,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"}],
            "thinking": {"type": "adaptive", "display": "omitted"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "metadata": {"user_id": json.dumps({"device_id": "d", "session_id": "s"})},
            "messages": list(turns)}


def user(*texts):
    return {"role": "user", "content": [{"type": "text", "text": t} for t in texts]}


SYSTEM_TURN = {"role": "system", "content": [{"type": "text", "text": "# Environment"}]}


@pytest.mark.parametrize(("headers", "body", "expected"), [
    ({"anthropic-beta": CLAUDE_CODE_BETAS}, {}, True),
    ({"anthropic-beta": " claude-code-20250219"}, {}, True),            # spaces around values
    ({}, claude_code_body(), True),                 # its beta held back: the billing block
    ({"anthropic-beta": "context-management-2025-06-27"}, {}, False),   # an SDK with one beta
    ({}, {"system": "x-anthropic-billing-header is a phrase"}, False),
    ({}, {"system": [{"type": "image"}]}, False),
    ({}, {}, False),
])
def test_claude_code_is_told_by_its_beta_or_its_billing_block(headers, body, expected):
    assert is_claude_code(headers, body) is expected


@pytest.mark.parametrize(("turns", "expected"), [
    ([user(REMINDER, "say hi"), SYSTEM_TURN], "say hi"),         # reminders and system turn skipped
    ([user("plain")], "plain"),
    ([{"role": "user", "content": "a string"}], "a string"),
    ([user(REMINDER)], ""),                                      # nothing but a reminder
    ([user("first"), {"role": "assistant", "content": "x"},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                    "content": "out"}]}], "first"),
])
def test_the_prompt_is_the_users_own_words(turns, expected):
    assert prompt_of({"messages": turns}) == expected


def test_after_a_tool_result_the_reply_says_what_the_tool_returned():
    body = {"messages": [user("run"), {"role": "assistant", "content": []}, {
        "role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                     "content": [{"type": "text", "text": " marker\n"}]}]}]}
    assert claude_code_reply(body) == "The tool said: marker"


@pytest.mark.parametrize(("knob", "expected"), [
    ('Bash {"command": "echo hi"}', ToolCall("Bash", {"command": "echo hi"})),
    ("Bash", ToolCall("Bash", {})),                     # no input: an empty object
    ('Nope {"a": 1}', None),                            # a tool the request does not offer
    ("Bash {not json", None),
    ("", None),
])
def test_a_tool_call_is_made_only_when_asked_for(knob, expected):
    body = claude_code_body(user("go"))
    assert requested_tool_call({"x-stub-tool-call": knob}, body) == expected


def test_no_second_tool_call_after_the_tool_result():
    body = claude_code_body(user("go"), {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "done"}]})
    assert requested_tool_call({"x-stub-tool-call": "Bash {}"}, body) is None


def test_tool_input_is_streamed_in_fragments_that_join_to_the_input():
    call = ToolCall("Bash", {"command": "echo ü", "n": 1})
    first, second = input_json_parts(call)
    assert first and second and json.loads(first + second) == call.input


def events(response):
    """(event name, data) pairs of an SSE body."""
    found = []
    for frame in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        found.append((lines["event"], data))
    return found


@pytest.fixture(scope="module")
def stub():
    with StubThread() as server:
        yield server


def post(stub, body, **headers):
    return httpx.post(stub.url + "/v1/messages?beta=true", json=body, timeout=10,
                      headers={"anthropic-beta": CLAUDE_CODE_BETAS, **headers})


def test_a_claude_code_turn_streams_the_full_event_sequence_without_a_tool_call(stub):
    response = post(stub, claude_code_body(user(REMINDER, "say hi"), SYSTEM_TURN))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    seen = events(response)
    names = [name for name, _ in seen]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    text = "".join(d["delta"]["text"] for n, d in seen if n == "content_block_delta")
    assert text == "You said: say hi"
    assert seen[0][1]["message"]["model"] == "claude-opus-5-5"
    assert seen[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_a_claude_code_tool_turn_then_its_result(stub):
    knob = {"x-stub-tool-call": 'Bash {"command": "echo hi"}'}
    seen = events(post(stub, claude_code_body(user("go")), **knob))
    starts = [d["content_block"] for n, d in seen if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["text", "tool_use"]
    assert starts[1]["name"] == "Bash" and starts[1]["input"] == {}
    partial = "".join(d["delta"]["partial_json"] for n, d in seen
                      if n == "content_block_delta" and d["index"] == 1)
    assert json.loads(partial) == {"command": "echo hi"}
    assert seen[-2][1]["delta"]["stop_reason"] == "tool_use"
    follow = post(stub, claude_code_body(
        user("go"), {"role": "assistant", "content": [{"type": "tool_use", "id": starts[1]["id"],
                                                       "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": starts[1]["id"],
                                      "content": "hi"}]}, stream=False), **knob)
    message = follow.json()
    assert message["stop_reason"] == "end_turn"
    assert message["content"] == [{"type": "text", "text": "The tool said: hi"}]


def test_a_plain_client_still_gets_a_call_of_its_first_tool(stub):
    body = {"model": "m", "max_tokens": 8, "messages": [user("hello")],
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}]}
    message = httpx.post(stub.url + "/v1/messages", json=body, timeout=10).json()
    assert message["content"][0]["text"] == "You said: hello"
    assert message["content"][1]["input"] == {"query": "stand-in"}


def test_count_tokens_and_models_answer_on_the_beta_routes(stub):
    counted = httpx.post(stub.url + "/v1/messages/count_tokens?beta=true", timeout=10,
                         json=claude_code_body(user("hi")))
    assert counted.json()["input_tokens"] > 0
    models = httpx.get(stub.url + "/v1/models?beta=true", timeout=10).json()
    assert "claude-opus-5-5" in [m["id"] for m in models["data"]]


@pytest.mark.parametrize(("method", "path", "content", "status", "error_type"), [
    ("GET", "/v1/nowhere", None, 404, "not_found_error"),
    ("HEAD", "/api/hello", None, 404, None),               # Claude Code's probe (no body)
    ("PUT", "/v1/messages", b"{}", 405, "invalid_request_error"),
    ("POST", "/v1/messages", b"{not json", 400, "invalid_request_error"),
    ("POST", "/v1/messages/count_tokens", b"\xff\xfe", 400, "invalid_request_error"),
])
def test_errors_come_in_the_apis_format(stub, method, path, content, status, error_type):
    response = httpx.request(method, stub.url + path, content=content, timeout=10)
    assert response.status_code == status
    assert response.headers["request-id"].startswith("req_")
    if error_type is not None:
        body = response.json()
        assert body["type"] == "error" and body["error"]["type"] == error_type
        assert body["error"]["message"] and body["request_id"] == response.headers["request-id"]
