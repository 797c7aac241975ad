"""The relay, driven through the ASGI app with the in-memory upstream (no socket, no server):
bodies, streams and targets pass byte for byte; the upstream sees the gateway's credential (and
the decision's betas: test_beta_relay.py); containers and created objects are recorded for the
caller's org; usage and completion are observed from the stream; and every upstream failure
reaches the client in the API's error format (an `error` event once a stream has started)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from asgi_exchange import Answer
from memory_gateway import MESSAGE, MSG, World

from zdr.errors import UpstreamDropped, UpstreamTimeout, UpstreamUnreachable
from zdr.gateway.relay import TRUNCATED
from zdr.gateway.upstream_memory import STALL, CannedReply, SentRequest
from zdr.testing.canaries import new_canary
from zdr.wiring import STUB_PROVIDER_KEY


def stream_events(text: str = "Hi there", container: str | None = None) -> list[tuple[str, Any]]:
    """A Messages stream as the API sends it (the container, when given, in `message_delta`)."""
    delta: dict[str, Any] = {"stop_reason": "end_turn", "stop_sequence": None}
    if container is not None:
        delta["container"] = {"id": container, "expires_at": "2030-01-01T00:00:00Z"}
    return [
        ("message_start", {"type": "message_start", "message": {
            **MESSAGE, "content": [], "stop_reason": None,
            "usage": {"input_tokens": 11, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": delta,
                           "usage": {"output_tokens": 7}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def assert_api_error(answer: Answer, status: int, error_type: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    body: dict[str, Any] = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == answer.headers["request-id"]
    return body


def sse_errors(answer: Answer) -> list[dict[str, Any]]:
    """The `error` events the client received, in order."""
    found = []
    for block in answer.body.split(b"\n\n"):
        if block.startswith(b"event: error\n"):
            found.append(orjson.loads(block.split(b"data: ", 1)[1]))
    return found


# ------------------------------------------------------------------ pass-through, byte for byte
async def test_a_json_reply_reaches_the_client_byte_for_byte(world: World) -> None:
    raw = (b'{"type": "message" ,"id":"msg_1","content":[{"type":"text",'
           b'"text":"caf\\u00e9 \xe2\x9c\x93"}],\n "usage":{"input_tokens":5,"output_tokens":2}}')
    world.answer(CannedReply(200, {"content-type": "application/json; charset=utf-8",
                                   "request-id": "req_upstream_1",
                                   "anthropic-ratelimit-requests-remaining": "41",
                                   "set-cookie": "cdn=1", "server": "edge"},
                             (raw[:40], raw[40:])))
    answer = await world.post(world.key("json-org", zdr=True))
    assert answer.status == 200 and answer.body == raw
    headers = answer.headers
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["content-length"] == str(len(raw))
    assert headers["request-id"] == "req_upstream_1"          # the upstream's own id
    assert headers["zdr-retention"] == "zero"
    assert headers["anthropic-ratelimit-requests-remaining"] == "41"
    assert "set-cookie" not in headers and "server" not in headers   # not on the allow-list
    meta = world.sink.metadata[-1]
    assert (meta.exchange_id, meta.outcome, meta.status_code) == ("req_upstream_1", "ok", 200)
    assert (meta.input_tokens, meta.output_tokens) == (5, 2)


async def test_an_sse_stream_reaches_the_client_chunk_for_chunk(world: World) -> None:
    """Chunk boundaries inside events, CRLF line ends and comments pass untouched; the gateway
    still reads usage and completion from them."""
    events = CannedReply.sse(stream_events()).body
    whole = b"".join(e for e in events if isinstance(e, bytes)).replace(b"\n", b"\r\n")
    chunks = (b": keep-alive\r\n\r\n", whole[:7], whole[7:200], whole[200:201], whole[201:])
    world.answer(CannedReply(200, {"content-type": "text/event-stream"}, chunks))
    answer = await world.post(world.key("sse-org", zdr=True), {**MSG, "stream": True})
    assert answer.status == 200 and answer.complete
    assert answer.chunks == list(chunks)                     # nothing added, split or joined
    assert answer.headers["content-type"] == "text/event-stream"
    meta = world.sink.metadata[-1]
    assert (meta.outcome, meta.stream, meta.input_tokens, meta.output_tokens) == \
        ("ok", True, 11, 7)


async def test_a_complete_stream_ends_with_its_last_chunk_in_one_send(world: World) -> None:
    # One send per upstream chunk: the one the upstream's body ends with also ends the answer.
    events = CannedReply.sse(stream_events()).body
    world.answer(CannedReply(200, {"content-type": "text/event-stream"}, events))
    answer = await world.post(world.key("one-send-org", zdr=True), {**MSG, "stream": True})
    assert answer.complete and answer.body == b"".join(e for e in events if isinstance(e, bytes))
    assert answer.sends == [(e, e is not events[-1]) for e in events]
    assert world.sink.metadata[-1].outcome == "ok"
    assert world.upstream.abandoned == []               # read to its end, not left early


async def test_a_stream_whose_body_ends_before_message_stop_is_not_ended_by_its_last_chunk(
    world: World
) -> None:
    events = CannedReply.sse(stream_events()).body
    world.answer(CannedReply(200, {"content-type": "text/event-stream"}, events[:-1]))
    answer = await world.post(world.key("short-org"), {**MSG, "stream": True})
    assert answer.sends[len(events) - 2] == (events[-2], True)
    assert [e["error"]["message"] for e in sse_errors(answer)] == [TRUNCATED]
    assert answer.sends[-1] == (b"", False)


async def test_a_non_message_route_is_passed_through_as_it_arrives(world: World) -> None:
    chunks = (b'{"data":[{"id":"claude-sonnet-5",', b'"type":"model"}],"has_more":false}')
    world.answer(CannedReply(200, {"content-type": "application/json"}, chunks))
    answer = await world.post(world.key("models-org"), None, b"/v1/models?limit=2",
                              method="GET")
    assert answer.status == 200 and answer.chunks == list(chunks)
    assert answer.sends == [(chunks[0], True), (chunks[1], False)]     # the last one ends it
    assert (world.sent.method, world.sent.target, world.sent.body) == \
        ("GET", "/v1/models?limit=2", b"")


@pytest.mark.parametrize("target", [
    b"/v1/messages?beta=true",                              # the SDKs' beta query
    b"/v1/messages?note=%2F..%2F&x=%41&y=caf%C3%A9",        # escapes left as sent
    b"/v1/messages/count_tokens?a=1&a=2&b",                 # repeats and bare names
    b"/v1/models/claude-haiku-4-5?x=%20",
])
async def test_the_upstream_receives_the_target_byte_for_byte(world: World,
                                                              target: bytes) -> None:
    method = "GET" if target.startswith(b"/v1/models") else "POST"
    world.answer(CannedReply.json({"input_tokens": 3} if b"count" in target else MESSAGE))
    answer = await world.post(world.key("target-org"), MSG if method == "POST" else None,
                              target, method=method)
    assert answer.status == 200, answer.body
    assert world.sent.target == target.decode()


async def test_the_request_body_reaches_the_upstream_byte_for_byte(world: World) -> None:
    raw = (b'{ "model" : "claude-sonnet-5", "max_tokens":32,\n"messages":[{"role":"user",'
           b'"content":"caf\\u00e9 \xe2\x9c\x93 \\"quoted\\""}] }')
    answer = await world.post(world.key("body-org", zdr=True), raw)
    assert answer.status == 200
    assert world.sent.body == raw


# ------------------------------------------------------------------ headers
async def test_the_upstream_sees_the_gateways_credential_and_an_allow_list(world: World) -> None:
    key = world.key("headers-org")
    await world.post(key, headers={"authorization": f"Bearer {key}", "cookie": "a=b",
                                   "anthropic-version": "2023-06-01", "x-app": "cli",
                                   "user-agent": "sdk/1", "x-forwarded-for": "10.0.0.1"})
    assert world.sent.headers == {"x-api-key": STUB_PROVIDER_KEY,
                                  "anthropic-version": "2023-06-01",
                                  "content-type": "application/json"}


async def test_without_a_version_the_upstream_gets_the_default_one(world: World) -> None:
    await world.post(world.key("version-org"))
    assert world.sent.headers["anthropic-version"] == "2023-06-01"


# ------------------------------------------------------------------ observation and recording
async def test_usage_completion_and_output_are_observed_from_the_stream(world: World) -> None:
    canary = new_canary()
    world.answer(CannedReply.sse(stream_events(text=canary)))
    answer = await world.post(world.key("observed-org"), {**MSG, "stream": True})
    assert answer.complete and not sse_errors(answer)
    meta = world.sink.metadata[-1]
    assert (meta.outcome, meta.input_tokens, meta.output_tokens) == ("ok", 11, 7)
    _, _, output = world.safety.items[-1]               # what the classifier is handed
    assert output == canary
    stored = world.sink.retained[-1][1]                 # a standard org's retained response
    assert stored.response == answer.body and stored.request == orjson.dumps({**MSG,
                                                                               "stream": True})


async def test_a_zdr_stream_keeps_no_content_anywhere(world: World) -> None:
    canary = new_canary()
    world.answer(CannedReply.sse(stream_events(text=canary)))
    answer = await world.post(world.key("zdr-observed", zdr=True), {
        **MSG, "stream": True, "messages": [{"role": "user", "content": canary}]})
    assert canary.encode() in answer.body
    assert not world.sink.retained
    assert canary not in repr(world.sink.metadata) and canary not in world.logs.text()


async def test_a_container_named_in_a_json_reply_is_recorded_for_the_org(world: World) -> None:
    world.answer(CannedReply.json({**MESSAGE, "container": {"id": "cntr_json_1"}}))
    key, principal = world.directory.create_key("container-json")
    answer = await world.post(key)
    assert answer.status == 200
    owner = world.owners.resources[("container", "cntr_json_1")]
    assert (owner.org_id, owner.exchange_id) == (principal.org_id, answer.headers["request-id"])


async def test_a_container_named_in_a_streams_message_delta_is_recorded(world: World) -> None:
    """Recorded before the client gets `message_stop`: a client may use it at once."""
    world.answer(CannedReply.sse(stream_events(container="cntr_stream_1")))
    key, principal = world.directory.create_key("container-stream")
    owned_at_stop: list[bool] = []

    def on_chunk(chunk: bytes) -> None:
        if b"message_stop" in chunk:
            owned_at_stop.append(("container", "cntr_stream_1") in world.owners.resources)

    answer = await world.post(key, {**MSG, "stream": True}, on_chunk=on_chunk)
    assert answer.complete and owned_at_stop == [True]
    assert world.owners.resources[("container", "cntr_stream_1")].org_id == principal.org_id
    before = len(world.upstream.requests)            # and another org cannot name it
    refused = await world.post(world.key("container-thief"), {**MSG, "container": "cntr_stream_1"})
    assert_api_error(refused, 404, "not_found_error")
    assert len(world.upstream.requests) == before


async def test_a_created_batch_belongs_to_its_org_and_lists_are_filtered(world: World) -> None:
    key, principal = world.directory.create_key("batch-owner")
    world.answer(CannedReply.json({"id": "msgbatch_1", "type": "message_batch"}))
    created = await world.post(key, {"requests": []}, b"/v1/messages/batches")
    assert created.status == 200 and created.json()["id"] == "msgbatch_1"
    assert world.owners.resources[("batch", "msgbatch_1")].org_id == principal.org_id
    world.answer(CannedReply.json({"data": [{"id": "msgbatch_0"}, {"id": "msgbatch_1"}],
                                   "first_id": "msgbatch_0", "last_id": "msgbatch_1",
                                   "has_more": False}))
    listed = await world.post(key, None, b"/v1/messages/batches", method="GET")
    assert listed.json() == {"data": [{"id": "msgbatch_1"}], "first_id": "msgbatch_1",
                             "last_id": "msgbatch_1", "has_more": False}
    before = len(world.upstream.requests)
    foreign = await world.post(world.key("batch-thief"), None, b"/v1/messages/batches/msgbatch_1",
                               method="GET")
    assert_api_error(foreign, 404, "not_found_error")
    assert len(world.upstream.requests) == before           # never asked upstream


async def test_a_deleted_file_is_forgotten(world: World) -> None:
    key, principal = world.directory.create_key("file-owner")
    world.answer(CannedReply.json({"id": "file_1", "type": "file"}))
    await world.post(key, b"--x\r\n", b"/v1/files", headers={
        "content-type": "multipart/form-data; boundary=x"})
    assert world.owners.resources[("file", "file_1")].org_id == principal.org_id
    world.answer(CannedReply.json({"id": "file_1", "type": "file_deleted"}))
    deleted = await world.post(key, None, b"/v1/files/file_1", method="DELETE")
    assert deleted.status == 200 and ("file", "file_1") not in world.owners.resources


# ------------------------------------------------------------------ upstream errors
@pytest.mark.parametrize(("status", "error_type", "outcome"), [
    (400, "invalid_request_error", "upstream_error"),
    (429, "rate_limit_error", "upstream_error"),
    (500, "api_error", "upstream_error"),
    (504, "timeout_error", "timeout"),
    (529, "overloaded_error", "upstream_error"),
])
async def test_an_upstream_error_in_the_api_format_passes_unchanged(
    world: World, status: int, error_type: str, outcome: str
) -> None:
    reply = CannedReply.error(status, error_type, "Upstream says so.",
                              {"retry-after": "3", "x-should-retry": "true"})
    world.answer(reply)
    answer = await world.post(world.key(f"error-{status}"))
    assert answer.status == status and answer.body == reply.body[0]
    assert (answer.headers["retry-after"], answer.headers["x-should-retry"]) == ("3", "true")
    assert (world.sink.metadata[-1].outcome, world.sink.metadata[-1].status_code) == \
        (outcome, status)


@pytest.mark.parametrize(("status", "error_type"), [
    (502, "api_error"), (529, "overloaded_error"), (404, "not_found_error"),
    (418, "invalid_request_error"),
])
async def test_an_upstream_error_page_is_rewritten_in_the_api_format(
    world: World, status: int, error_type: str
) -> None:
    world.answer(CannedReply(status, {"content-type": "text/html"}, (b"<html>bad</html>",)))
    body = assert_api_error(await world.post(world.key("html-org")), status, error_type)
    assert body["error"]["message"] == f"The upstream API answered {status}."


async def test_a_huge_upstream_error_body_is_cut_at_the_bound(world: World) -> None:
    world.answer(CannedReply(500, {"content-type": "text/plain"},
                             (b"x" * 700_000, b"y" * 700_000, STALL)))
    answer = await world.post(world.key("huge-error"))
    assert_api_error(answer, 500, "api_error")        # read up to the bound only: no stall


@pytest.mark.parametrize(("fault", "status", "error_type", "outcome"), [
    (UpstreamUnreachable(), 502, "api_error", "upstream_error"),     # connect error
    (UpstreamTimeout(), 504, "timeout_error", "timeout"),            # no answer in time
    (UpstreamDropped(), 502, "api_error", "upstream_error"),    # closed before answering
], ids=["connect", "timeout", "hang-up"])
async def test_an_upstream_that_fails_before_answering_is_an_api_error(
    world: World, fault: Exception, status: int, error_type: str, outcome: str
) -> None:
    def fail(_request: SentRequest) -> CannedReply:
        raise fault

    world.upstream.handler = fail
    canary = new_canary()
    answer = await world.post(world.key("fault-org", zdr=True),
                              {**MSG, "messages": [{"role": "user", "content": canary}]})
    body = assert_api_error(answer, status, error_type)
    assert body["error"]["message"] == fault.args[0]
    assert answer.headers["zdr-retention"] == "zero"
    meta = world.sink.metadata[-1]
    assert (meta.outcome, meta.status_code) == (outcome, status)
    assert canary not in answer.body.decode() and canary not in world.logs.text()


@pytest.mark.parametrize(("fault", "error_type", "outcome"), [
    (UpstreamDropped(), "api_error", "upstream_error"),       # hang-up mid-stream
    (UpstreamTimeout(), "timeout_error", "timeout"),               # silent mid-stream
], ids=["hang-up", "timeout"])
async def test_a_stream_cut_mid_way_ends_with_an_error_event(
    world: World, fault: Exception, error_type: str, outcome: str
) -> None:
    events = CannedReply.sse(stream_events()).body
    world.answer(CannedReply(200, {"content-type": "text/event-stream"},
                             (*events[:4], fault)))
    answer = await world.post(world.key("cut-org"), {**MSG, "stream": True})
    assert answer.status == 200 and answer.complete
    assert answer.chunks[:4] == list(events[:4])
    assert [e["error"]["type"] for e in sse_errors(answer)] == [error_type]
    meta = world.sink.metadata[-1]
    assert (meta.outcome, meta.status_code, meta.input_tokens) == (outcome, 200, 11)
    stored = world.sink.retained[-1][1]             # kept as far as it was relayed
    assert stored.response == b"".join(events[:4])


async def test_a_stream_that_ends_without_message_stop_says_so(world: World) -> None:
    events = CannedReply.sse(stream_events()).body
    world.answer(CannedReply(200, {"content-type": "text/event-stream"}, events[:-1]))
    answer = await world.post(world.key("short-org"), {**MSG, "stream": True})
    assert answer.complete
    assert [e["error"]["message"] for e in sse_errors(answer)] == [TRUNCATED]
    assert world.sink.metadata[-1].outcome == "upstream_error"


async def test_a_client_that_hangs_up_mid_stream_cancels_the_upstream(world: World) -> None:
    events = CannedReply.sse(stream_events()).body
    world.answer(CannedReply(200, {"content-type": "text/event-stream"}, (*events[:3], STALL)))
    answer = await asyncio.wait_for(
        world.post(world.key("gone-org"), {**MSG, "stream": True}, hang_up_after=3), 10)
    assert answer.chunks == list(events[:3]) and not answer.complete
    assert world.upstream.abandoned == [world.sent]       # its reply was closed, unread
    meta = world.sink.metadata[-1]
    assert (meta.outcome, meta.status_code) == ("client_disconnected", 200)


async def test_a_client_that_hangs_up_before_the_answer_cancels_the_request(
    world: World
) -> None:
    async def never(_request: SentRequest) -> CannedReply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    world.upstream.handler = never
    answer = await asyncio.wait_for(world.post(world.key("early-gone"), hang_up_after=0), 10)
    assert answer.status == 0 and not answer.chunks
    meta = world.sink.metadata[-1]
    assert (meta.outcome, meta.status_code) == ("client_disconnected", 499)
