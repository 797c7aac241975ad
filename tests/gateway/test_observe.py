"""The observer reads usage and completion always, but holds message text only when asked."""

import orjson

from zdr.gateway.observe import MessageObserver
from zdr.gateway.sse import SseEvent


def event(name, data):
    return SseEvent(name, orjson.dumps(data))


STREAM = [
    event("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "usage": {"input_tokens": 11, "output_tokens": 1}}}),
    event("content_block_start", {"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}),
    event("content_block_delta", {"delta": {"type": "text_delta", "text": "Hel"}}),
    event("content_block_delta", {"delta": {"type": "text_delta", "text": "lo"}}),
    event("content_block_delta", {"delta": {"type": "input_json_delta", "partial_json": "{}"}}),
    event("message_delta", {"type": "message_delta", "usage": {"output_tokens": 7}}),
    event("message_stop", {"type": "message_stop"}),
]


def test_stream_usage_completion_and_text():
    observer = MessageObserver(assemble=True)
    for e in STREAM:
        observer.event(e)
    assert (observer.input_tokens, observer.output_tokens) == (11, 7)
    assert observer.completed and not observer.errored
    assert observer.output_text == "Hello{}"


def test_without_assembly_no_text_is_held():
    observer = MessageObserver(assemble=False)
    for e in STREAM:
        observer.event(e)
    assert observer.output_text == ""
    assert (observer.input_tokens, observer.output_tokens, observer.completed) == (11, 7, True)


def test_error_event_marks_the_stream():
    observer = MessageObserver(assemble=False)
    observer.event(event("error", {"type": "error", "error": {"type": "overloaded_error"}}))
    assert observer.errored and not observer.completed


def test_malformed_event_data_is_ignored():
    observer = MessageObserver(assemble=True)
    observer.event(SseEvent("message_delta", b"not json"))
    observer.event(SseEvent("content_block_delta", b"[1, 2]"))
    assert observer.output_tokens is None and observer.output_text == ""


def test_json_message_and_count_tokens():
    observer = MessageObserver(assemble=True)
    observer.message(orjson.dumps({
        "type": "message", "content": [{"type": "text", "text": "hi"},
                                       {"type": "tool_use", "input": {"q": 1}}],
        "usage": {"input_tokens": 3, "output_tokens": 2}}))
    assert observer.completed and observer.output_text == 'hi{"q":1}'
    assert (observer.input_tokens, observer.output_tokens) == (3, 2)
    counted = MessageObserver(assemble=False)
    counted.message(b'{"input_tokens": 42}')
    assert counted.input_tokens == 42 and counted.completed
