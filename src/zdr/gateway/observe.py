"""What the relay learns from a response without changing it: token usage, completion, output
text, and the code-execution container it ran in (`container_id`, recorded for the org by
`zdr.gateway.ownership`).

`MessageObserver` reads a Messages API stream as it is relayed (`feed`, chunk by chunk), or one
JSON message (`message`). Per chunk it reads only the events that must be known while the stream
runs: `message_start` and `message_delta` (usage, the container), `message_stop` (completion, which
the relay acts on before passing that chunk on) and `error`; bytes naming none of them are not
parsed at all. The output text (text, thinking, tool input deltas) is wanted only once the
exchange is over, by the classifier: when asked to assemble it (`assemble=True`: something will
classify it) the observer keeps the relayed chunks (references, no copy) and reads the text from
them once, at `output_text`, with the same parser over the same chunks, so it is the text the
client received. A long stream is not held whole: past `HELD_BYTES` the chunks held so far are
read into text and let go, by a parser that carries on with the next. Without `assemble` it
never holds message text at all.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from zdr.gateway.sse import SseEvent, SseParser
from zdr.gateway.texts import content_texts

# Events whose JSON the observer must read for usage and completion.
_USAGE_EVENTS = frozenset({"message_start", "message_delta"})
# What it reads while the stream runs.
_STATE_EVENTS = frozenset({*_USAGE_EVENTS, "message_stop", "error"})
# What it reads, at the end, for the output text.
_TEXT_EVENTS = frozenset({"content_block_start", "content_block_delta"})
# Where a delta carries its text: a text, a tool call's JSON, a thinking block.
_DELTA_TEXT_KEYS = ("text", "partial_json", "thinking")
# One event as the API writes it (the SSE parser's fast shape): `event: NAME` then `data: JSON`.
_API_EVENT = re.compile(rb"event: ([^\n]*)\ndata: ([^\n]*)\n\n")
_API_STREAM = re.compile(rb"(?:event: [^\n]*\ndata: [^\n]*\n\n)*")
_TEXT_NAMES = frozenset(name.encode() for name in _TEXT_EVENTS)
# Relayed bytes held for the text at most; past this they are read into text as the stream goes.
HELD_BYTES = 256 * 1024


class MessageObserver:
    __slots__ = ("_held", "_parser", "_parts", "_raw", "_text_parser", "assemble", "completed",
                 "container_id", "errored", "input_tokens", "output_tokens")

    def __init__(self, *, assemble: bool) -> None:
        self.assemble = assemble
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.completed = False
        self.errored = False
        self.container_id: str | None = None
        self._parts: list[str] = []
        self._raw: list[bytes] = []       # a stream's chunks as relayed, until its text is read
        self._held = 0                    # their size
        self._parser = SseParser(_STATE_EVENTS)
        self._text_parser: SseParser | None = None    # a long stream's text, read as it goes

    @property
    def output_text(self) -> str:
        if self._raw:
            raw, self._raw, self._held = self._raw, [], 0
            if self._text_parser is None:
                events = _text_events(raw, whole=not self._parser.overflowed)
            else:
                events = _parsed(self._text_parser, raw)
            self._stream_text(events)
        return "".join(self._parts)

    def feed(self, chunk: bytes) -> bool:
        """One chunk of a stream, as relayed; True when it completes `message_stop`."""
        if self.assemble:
            self._raw.append(chunk)
            self._held += len(chunk)
            if self._held > HELD_BYTES:     # a long stream: its text so far, the chunks let go
                raw, self._raw, self._held = self._raw, [], 0
                if self._text_parser is None:
                    self._text_parser = SseParser(_TEXT_EVENTS)
                self._stream_text(_parsed(self._text_parser, raw))
        final = False
        for event in self._parser.feed(chunk):
            self.event(event)
            if event.event == "message_stop":
                final = True
        return final

    def event(self, event: SseEvent) -> None:
        """One event of the stream's state (usage, container, completion, error)."""
        name = event.event
        if name in _USAGE_EVENTS:
            data = _loads(event.data)
            if name == "message_start":
                message = data.get("message")
                data = message if isinstance(message, dict) else {}
                self._container(data.get("container"))
            else:
                delta = data.get("delta")
                if isinstance(delta, dict):
                    self._container(delta.get("container"))
            self._usage(data.get("usage"))
        elif name == "message_stop":
            self.completed = True
        elif name == "error":
            self.errored = True

    def message(self, body: bytes) -> None:
        """A whole (non-streaming) Messages API response body."""
        data = _loads(body)
        self._usage(data.get("usage"))
        self._container(data.get("container"))
        if data.get("type") == "message":
            self.completed = True
        elif "input_tokens" in data and isinstance(data["input_tokens"], int):   # count_tokens
            self.input_tokens = data["input_tokens"]
            self.completed = True
        if not self.assemble:
            return
        content = data.get("content")
        if isinstance(content, list):
            self._parts.extend(content_texts(content))

    def _stream_text(self, events: list[tuple[bytes, bytes]]) -> None:
        """The output text of a stream's text `events` (name, data): each
        `content_block_start`'s text and each `content_block_delta`'s, in order."""
        parts = self._parts
        for name, data in events:
            if name == b"content_block_delta":
                try:
                    value = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                delta = value.get("delta") if type(value) is dict else None
                if type(delta) is dict:
                    for key in _DELTA_TEXT_KEYS:
                        text = delta.get(key)
                        if type(text) is str:
                            parts.append(text)
                            break
            elif name == b"content_block_start":
                block = _loads(data).get("content_block")
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    parts.append(block["text"])

    def _container(self, container: object) -> None:
        if isinstance(container, dict) and isinstance(container.get("id"), str):
            self.container_id = container["id"]

    def _usage(self, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        tokens = usage.get("input_tokens")
        if isinstance(tokens, int):
            self.input_tokens = tokens
        tokens = usage.get("output_tokens")
        if isinstance(tokens, int):
            self.output_tokens = tokens


def _loads(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _text_events(raw: list[bytes], *, whole: bool) -> list[tuple[bytes, bytes]]:
    """(name, data) of each text event in the chunks `raw`, as `SseParser` finds them fed chunk
    by chunk. A stream written as the API writes it (every complete event in the parser's fast
    shape, no CR) is read in two passes of the regular-expression engine over its bytes; any
    other, chunk by chunk through the parser. `whole` False: the parser dropped an oversized
    event, which depends on where the chunks were cut."""
    if whole:
        joined = raw[0] if len(raw) == 1 else b"".join(raw)
        end = joined.rfind(b"\n\n")
        end = end + 2 if end >= 0 else 0        # the complete events; the rest is unfinished
        if b"\r" not in joined and _API_STREAM.fullmatch(joined, 0, end):
            return [(name, data) for name, data in _API_EVENT.findall(joined, 0, end)
                    if name in _TEXT_NAMES]
    return _parsed(SseParser(_TEXT_EVENTS), raw)


def _parsed(parser: SseParser, raw: list[bytes]) -> list[tuple[bytes, bytes]]:
    """(name, data) of the events `parser` finds fed the chunks `raw`, in order."""
    return [(event.event.encode(), event.data) for chunk in raw for event in parser.feed(chunk)]
