"""The observer reads usage and completion from each relayed chunk, and reads the output text
once, at the end, from the chunks as relayed: the same text however the stream was cut into
chunks, and none held when no text is wanted."""

import gc
import random

import orjson
import pytest

from zdr.gateway import observe, sse
from zdr.gateway.observe import MessageObserver
from zdr.gateway.sse import SseParser
from zdr.testing.canaries import new_canary


def event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stream(text: str = "Hel", *, container: str | None = None) -> list[bytes]:
    delta: dict[str, object] = {"stop_reason": "end_turn"}
    if container is not None:
        delta["container"] = {"id": container}
    return [
        event("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "usage": {"input_tokens": 11, "output_tokens": 1}}}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
        event("ping", {"type": "ping"}),
        event("content_block_delta", {"delta": {"type": "text_delta", "text": text}}),
        event("content_block_delta", {"delta": {"type": "text_delta", "text": "lo"}}),
        event("content_block_delta", {"delta": {"type": "input_json_delta",
                                                "partial_json": "{}"}}),
        event("content_block_delta", {"delta": {"type": "thinking_delta", "thinking": "hm"}}),
        event("message_delta", {"type": "message_delta", "delta": delta,
                                "usage": {"output_tokens": 7}}),
        event("message_stop", {"type": "message_stop"}),
    ]


def observed(chunks: list[bytes], *, assemble: bool = True) -> MessageObserver:
    observer = MessageObserver(assemble=assemble)
    for chunk in chunks:
        observer.feed(chunk)
    return observer


def reference_text(chunks: list[bytes]) -> str:
    """The output text read event by event as the parser yields them, fed the same chunks: the
    start block's text and each delta's text, partial JSON or thinking (malformed JSON skipped)."""
    parser, parts = SseParser(), []
    for chunk in chunks:
        for found in parser.feed(chunk):
            try:
                value = orjson.loads(found.data)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(value, dict):
                continue
            if found.event == "content_block_start":
                block = value.get("content_block")
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    parts.append(block["text"])
            elif found.event == "content_block_delta":
                delta = value.get("delta")
                if isinstance(delta, dict):
                    for key in ("text", "partial_json", "thinking"):
                        if isinstance(delta.get(key), str):
                            parts.append(delta[key])
                            break
    return "".join(parts)


def cut(data: bytes, rng: random.Random) -> list[bytes]:
    """`data` cut at random places (some chunks a single byte)."""
    chunks, start = [], 0
    while start < len(data):
        size = rng.choice((1, 2, 3, 7, 40, 200, 5000))
        chunks.append(data[start:start + size])
        start += size
    return chunks


def test_stream_usage_completion_container_and_text() -> None:
    observer = observed(stream(container="container_1"))
    assert (observer.input_tokens, observer.output_tokens) == (11, 7)
    assert observer.completed and not observer.errored
    assert observer.container_id == "container_1"
    assert observer.output_text == "Hello{}hm"
    assert observer.output_text == "Hello{}hm"          # read once, kept


def test_feed_says_which_chunk_completes_message_stop() -> None:
    observer = MessageObserver(assemble=False)
    whole = b"".join(stream())
    stop_end = len(whole)
    assert [observer.feed(whole[:stop_end - 1]), observer.feed(whole[stop_end - 1:])] == [
        False, True]
    assert observer.completed


def test_without_assembly_no_text_is_held() -> None:
    canary = new_canary()
    observer = observed(stream(canary), assemble=False)
    assert observer.output_text == ""
    assert (observer.input_tokens, observer.output_tokens, observer.completed) == (11, 7, True)
    held = repr(gc.get_referents(observer)) + repr(gc.get_referents(observer._parser))
    assert canary not in held


def test_error_event_marks_the_stream() -> None:
    observer = observed([event("error", {"type": "error", "error": {"type": "overloaded"}})])
    assert observer.errored and not observer.completed


def test_malformed_event_data_is_ignored() -> None:
    observer = observed([b"event: message_delta\ndata: not json\n\n",
                         b"event: content_block_delta\ndata: [1, 2]\n\n",
                         b"event: content_block_start\ndata: {\"content_block\": 3}\n\n",
                         b"event: content_block_delta\ndata: {\"delta\": {\"text\": 4}}\n\n"])
    assert observer.output_tokens is None and observer.output_text == ""


@pytest.mark.parametrize("seed", range(40))
def test_the_same_text_however_the_stream_is_cut(seed: int) -> None:
    # CRLF or CR line ends, comments, multi-line data (the parser's slow path), multi-byte UTF-8
    # cut inside a character, malformed deltas, and names cut between chunks.
    rng = random.Random(seed)
    chunks = stream("caf\u00e9 \u2713 \U0001f600 " + "x" * rng.randrange(50))
    chunks.insert(3, b": keep-alive comment\n\n")
    chunks.insert(4, b"event: content_block_delta\ndata: {\"delta\":\ndata: {\"text\":\"m\"}}\n\n")
    chunks.insert(5, b"event: content_block_delta\ndata: {broken\n\n")
    chunks.insert(6, b"data: {\"delta\": {\"text\": \"unnamed\"}}\n\n")
    chunks.insert(7, b"event: content_block_delta\ndata: {\"delta\": {\"text\": \"\\n\\n\"}}\n\n\n")
    data = b"".join(chunks)
    newline = rng.choice((b"\n", b"\r\n", b"\r"))
    data = data.replace(b"\n", newline)
    pieces = cut(data, rng)
    observer = observed(pieces)
    assert observer.output_text == reference_text(pieces)
    assert "caf\u00e9 \u2713 \U0001f600" in observer.output_text
    assert observer.completed and (observer.input_tokens, observer.output_tokens) == (11, 7)


@pytest.mark.parametrize("seed", range(20))
def test_the_api_shape_read_in_one_pass_gives_the_parsers_text(seed: int) -> None:
    rng = random.Random(seed)
    events = [event("content_block_delta", {"delta": {"text": f"p{n}\u00e9"}})
              for n in range(rng.randrange(1, 30))]
    events.insert(rng.randrange(len(events)), event("content_block_delta", {"delta": [1]}))
    pieces = cut(b"".join([*stream(), *events]), rng)
    pieces.append(b"event: content_block_delta\ndata: {\"delta\": {\"text\": \"unfinished\"}}\n")
    observer = observed(pieces)
    assert observer.output_text == reference_text(pieces)
    assert "unfinished" not in observer.output_text      # an event counts at its blank line


def test_an_oversized_event_is_dropped_as_the_chunked_parser_drops_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_PENDING", 64)
    big = event("content_block_delta", {"delta": {"text": "y" * 100}})
    pieces = [*stream()[:3], big[:80], big[80:], *stream()[3:]]
    observer = observed(pieces)
    assert observer.output_text == reference_text(pieces) == "Hello{}hm"
    assert observer.completed


def test_json_message_and_count_tokens() -> None:
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


@pytest.mark.parametrize("seed", range(10))
def test_a_long_stream_is_read_into_text_as_it_goes_with_the_same_text(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past HELD_BYTES of relayed chunks the text so far is read and the chunks let go, wherever
    # that falls (inside an event, a CRLF, a character): the text is the same.
    monkeypatch.setattr(observe, "HELD_BYTES", 300)
    rng = random.Random(seed)
    events = [event("content_block_delta", {"delta": {"text": f"p{n}\\u00e9\\u2713"}})
              for n in range(40)]
    data = b"".join([*stream()[:-1], *events, stream()[-1]])
    if seed % 2:
        data = data.replace(b"\\n", b"\\r\\n")
    pieces = cut(data, rng)
    observer = MessageObserver(assemble=True)
    for piece in pieces:
        observer.feed(piece)
        assert observer._held <= 300 + len(piece)
    assert observer.output_text == reference_text(pieces)
    assert observer.completed and "p39\\u00e9\\u2713" in observer.output_text
