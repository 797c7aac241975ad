"""A sans-I/O Server-Sent Events parser: fed bytes, yields events. No sockets, no clock.

The relay passes the upstream's bytes to the client untouched and feeds the same bytes here only
to observe the stream (token usage, the assembled output, whether `message_stop` arrived). An
event is complete only at its blank line, exactly as the client's parser sees it.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_PENDING = 4 * 1024 * 1024   # one event larger than this is not observed (bytes still relayed)
NEEDLE_BYTES = 8                # a wanted name's first bytes, looked for before parsing a chunk
_NAMES = {name.encode(): name for name in (
    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
    "message_delta", "message_stop", "ping", "error")}


class SseEvent(NamedTuple):
    event: str
    data: bytes


class SseParser:
    """Incremental SSE parser (WHATWG rules: `\\n`, `\\r\\n` or `\\r` line ends, `:` comments)."""

    __slots__ = ("_buffer", "_data", "_event", "_has_data", "_needles", "_only", "_skip_lf",
                 "overflowed")

    def __init__(self, only: frozenset[str] | None = None) -> None:
        """`only`: return just the events of these names (the rest are parsed past, not built;
        bytes that name none of them are not split into events at all)."""
        self._only = None if only is None else frozenset(name.encode() for name in only)
        # Bytes that hold none of these hold no wanted name (each name starts with one); none
        # when a wanted event may lack its name: without an `event:` field it is a "message".
        self._needles: tuple[bytes, ...] = ()
        if self._only is not None and b"message" not in self._only:
            self._needles = tuple({name[:NEEDLE_BYTES] for name in self._only})
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []
        self._has_data = False
        self._skip_lf = False
        self.overflowed = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Events completed by `chunk`, in order."""
        if self._skip_lf and chunk:
            # The previous chunk ended in \r, already taken as a line end: skip its \n half.
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
            self._skip_lf = False
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SseEvent] = []
        start = 0
        find, only, needles = buffer.find, self._only, self._needles
        while True:
            if needles:     # straight to the next event that may be wanted
                at = -1
                for needle in needles:
                    found = find(needle, start)
                    if found >= 0 and (at < 0 or found < at):
                        at = found
                if at < 0:      # none: past the complete events, unparsed
                    end = buffer.rfind(b"\n\n", start)
                    if end >= 0:
                        start = end + 2
                    break
                # The events that end before it are not wanted: no state outlives an event.
                end = buffer.rfind(b"\n\n", start, at)
                if end >= 0:
                    start = end + 2
            end = find(b"\n\n", start)
            if end < 0:
                break
            # Fast path, inline (one event per stream delta): the API's own shape,
            # `event: NAME\ndata: JSON`, with no field of an unfinished event pending.
            if buffer.startswith(b"event: ", start, end) and not self._has_data \
                    and not self._event:
                newline = find(b"\n", start + 7, end)
                if newline >= 0 and buffer.startswith(b"data: ", newline + 1, end) and \
                        find(b"\n", newline + 1, end) < 0:
                    name = buffer[start + 7:newline]
                    if only is None or name in only:
                        events.append(SseEvent(
                            _NAMES.get(name) or name.decode("utf-8", "replace"),
                            buffer[newline + 7:end]))
                    start = end + 2
                    continue
            self._block(buffer[start:end], events)
            start = end + 2
        self._keep(buffer[start:])
        return events

    def _keep(self, rest: bytes) -> None:
        """Hold the start of an unfinished event for the next chunk (unless it is too large)."""
        if len(rest) > MAX_PENDING:
            self.overflowed = True
            rest = b""
            self._event, self._data, self._has_data = "", [], False
        self._buffer = rest

    def _block(self, block: bytes, events: list[SseEvent]) -> None:
        """One event's lines (its blank line already consumed), field by field."""
        for line in block.split(b"\n"):
            self._line(line, events)
        self._line(b"", events)

    def _line(self, line: bytes, events: list[SseEvent]) -> None:
        if not line:
            if (self._has_data or self._event) and (
                self._only is None or (self._event or "message").encode() in self._only
            ):
                events.append(SseEvent(self._event or "message", b"\n".join(self._data)))
            self._event, self._data, self._has_data = "", [], False
            return
        if line[0] == 0x3A:   # ":" comment
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._has_data = True
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id" and "retry" do not matter to an observer.
