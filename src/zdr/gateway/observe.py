"""What the relay learns from a response without changing it: token usage, completion, output
text, and the code-execution container it ran in (`container_id`, recorded for the org by
`zdr.gateway.ownership`).

`MessageObserver` reads parsed SSE events (or one JSON message) of the Messages API. It assembles
the output text only when asked to (`assemble=True`: something will keep it or classify it);
otherwise it never holds message text at all.
"""

from __future__ import annotations

from typing import Any

import orjson

from zdr.gateway.sse import SseEvent
from zdr.gateway.texts import content_texts

# Events whose JSON the observer must read for usage and completion.
_USAGE_EVENTS = frozenset({"message_start", "message_delta"})
# What it needs to see at all when it does not assemble text.
_STATE_EVENTS = frozenset({*_USAGE_EVENTS, "message_stop", "error"})
# Where a delta carries its text: a text, a tool call's JSON, a thinking block.
_DELTA_TEXT_KEYS = ("text", "partial_json", "thinking")


class MessageObserver:
    __slots__ = ("_parts", "assemble", "completed", "container_id", "errored", "input_tokens",
                 "output_tokens")

    def __init__(self, *, assemble: bool) -> None:
        self.assemble = assemble
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.completed = False
        self.errored = False
        self.container_id: str | None = None
        self._parts: list[str] = []

    @property
    def wanted(self) -> frozenset[str] | None:
        """The event names to parse for this observer (None: all)."""
        return None if self.assemble else _STATE_EVENTS

    @property
    def output_text(self) -> str:
        return "".join(self._parts)

    def event(self, event: SseEvent) -> None:
        name = event.event
        if name == "content_block_delta":     # most events of a stream: kept short
            if self.assemble:
                try:
                    data = orjson.loads(event.data)
                except orjson.JSONDecodeError:
                    return
                if type(data) is dict:
                    self._delta(data)
        elif name in _USAGE_EVENTS:
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
        elif name == "content_block_start":
            if self.assemble:
                block = _loads(event.data).get("content_block")
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    self._parts.append(block["text"])
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

    def _delta(self, data: dict[str, Any]) -> None:
        delta = data.get("delta")
        if type(delta) is not dict:
            return
        for key in _DELTA_TEXT_KEYS:
            value = delta.get(key)
            if type(value) is str:
                self._parts.append(value)
                return

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
