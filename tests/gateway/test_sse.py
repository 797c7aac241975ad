"""The sans-I/O SSE parser: the same events whatever the chunking, no sockets involved."""

import pytest

from zdr.gateway.sse import SseEvent, SseParser

STREAM = (
    b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
    b": a comment line\n"
    b"event: ping\ndata: {\"type\": \"ping\"}\n\n"
    b"event: content_block_delta\ndata: {\"a\":1}\ndata: {\"b\":2}\n\n"
    b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)
EXPECTED = [
    SseEvent("message_start", b'{"type":"message_start"}'),
    SseEvent("ping", b'{"type": "ping"}'),
    SseEvent("content_block_delta", b'{"a":1}\n{"b":2}'),
    SseEvent("message_stop", b'{"type":"message_stop"}'),
]


def feed_all(chunks: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_whole_stream_in_one_chunk():
    # The reference: one feed gives every event, comments skipped, multi-line data joined.
    assert feed_all([STREAM]) == EXPECTED


@pytest.mark.parametrize("split", range(1, len(STREAM)))
def test_any_split_point_gives_the_same_events(split):
    # Upstream TCP segments can cut anywhere, including inside "\n\n".
    assert feed_all([STREAM[:split], STREAM[split:]]) == EXPECTED


def test_byte_by_byte():
    assert feed_all([bytes([b]) for b in STREAM]) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_other_line_endings(newline):
    # WHATWG allows \r\n and lone \r; split each one between chunks too.
    stream = STREAM.replace(b"\n", newline)
    assert feed_all([stream]) == EXPECTED
    assert feed_all([bytes([b]) for b in stream]) == EXPECTED


def test_event_is_not_complete_before_its_blank_line():
    # The relay relies on this: message_stop counts only once the client could see it too.
    parser = SseParser()
    assert parser.feed(b"event: message_stop\ndata: {}\n") == []
    assert parser.feed(b"\n") == [SseEvent("message_stop", b"{}")]


def test_data_without_event_name_is_a_message_event():
    assert feed_all([b"data: x\n\n"]) == [SseEvent("message", b"x")]


def test_field_without_space_after_colon():
    assert feed_all([b"event:ping\ndata:{}\n\n"]) == [SseEvent("ping", b"{}")]


def test_oversized_pending_event_is_dropped_not_buffered():
    # A runaway event without line ends must not grow memory without bound.
    parser = SseParser()
    from zdr.gateway import sse

    assert parser.feed(b"data: " + b"x" * (sse.MAX_PENDING + 10)) == []
    assert parser.overflowed
    assert parser.feed(b"\n\nevent: ping\ndata: {}\n\n")[-1] == SseEvent("ping", b"{}")


def test_only_the_named_events_are_returned():
    # The relay's observer asks only for what it needs when it assembles no text.
    parser = SseParser(only=frozenset({"message_start", "message_stop"}))
    assert parser.feed(STREAM) == [EXPECTED[0], EXPECTED[3]]
    slow = SseParser(only=frozenset({"message"}))
    assert slow.feed(b"data: a\n\nevent: ping\ndata: {}\n\n") == [SseEvent("message", b"a")]


def test_an_unknown_event_name_in_the_api_shape_keeps_its_name_and_the_filter_applies():
    stream = b"event: custom_x\ndata: {}\n\nevent: ping\ndata: {}\n\n"
    assert feed_all([stream]) == [SseEvent("custom_x", b"{}"), SseEvent("ping", b"{}")]
    assert SseParser(frozenset({"ping"})).feed(stream) == [SseEvent("ping", b"{}")]


def chunked(data: bytes, seed: int) -> list[bytes]:
    import random

    rng = random.Random(seed)
    chunks, start = [], 0
    while start < len(data):
        size = rng.choice((1, 2, 5, 13, 60, 4000))
        chunks.append(data[start:start + size])
        start += size
    return chunks


MIXED = (
    b"event: message_start\ndata: {}\n\n"
    b"event: content_block_delta\ndata: {\"text\": \"an error, a message_stop\"}\n\n\n\n"
    b": message_delta in a comment\n\n"
    b"event: ping\ndata: {}\n\n"
    b"event:message_delta\ndata: {\"a\": 1}\ndata: {\"b\": 2}\n\n"
    b"id: 7\nevent: error\ndata: {}\n\n"
    b"event: content_block_stop\ndata: {}\n\n\n"
    b"event: message_stop\ndata: {}\n\n"
    b"event: message_stop\ndata: {\"unfinished\": true}\n"
)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_a_filtered_parser_skips_to_wanted_events_and_finds_the_same_ones(seed, newline):
    # With `only`, bytes that name no wanted event are not split into events; what is found
    # must be exactly what the full parser finds, filtered, however the stream is cut.
    data = MIXED.replace(b"\n", newline)
    wanted = frozenset({"message_start", "message_delta", "message_stop", "error"})
    chunks = chunked(data, seed)
    everything = [e for e in feed_all(chunks) if e.event in wanted]
    parser = SseParser(wanted)
    found = [e for chunk in chunks for e in parser.feed(chunk)]
    assert found == everything
    assert [e.event for e in found] == ["message_start", "message_delta", "error",
                                        "message_stop"]


def test_a_filtered_parser_still_bounds_an_unfinished_event():
    from zdr.gateway import sse

    parser = SseParser(frozenset({"message_stop"}))
    assert parser.feed(b"data: " + b"x" * (sse.MAX_PENDING + 10)) == []
    assert parser.overflowed
    assert parser.feed(b"\n\nevent: message_stop\ndata: {}\n\n") == [
        SseEvent("message_stop", b"{}")]


def test_a_wanted_message_event_is_never_skipped():
    # An event without an `event:` field is a "message": its name is nowhere in its bytes.
    parser = SseParser(frozenset({"message"}))
    assert parser.feed(b"data: a\n\n") == [SseEvent("message", b"a")]
