"""The text of a request, in memory only, for the safety classifier (never logged or stored)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 8


def request_text(body: Mapping[str, Any] | None) -> str:
    """The text blocks (and plain-string contents) of a Messages API body's system prompt and
    messages, tool results' included, joined by newlines. Images, documents, tool inputs and
    thinking are not text blocks and are left out."""
    if body is None:
        return ""
    parts: list[str] = []
    _collect(body.get("system"), parts, 0)
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                _collect(message.get("content"), parts, 0)
    return "\n".join(parts)


def _collect(value: Any, parts: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, list):
        for item in value:
            _collect(item, parts, depth + 1)
    elif isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str) and value.get("type", "text") == "text":
            parts.append(text)
        content = value.get("content")
        if content is not None:
            _collect(content, parts, depth + 1)
