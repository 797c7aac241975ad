"""The text of requests and responses, in memory only, for the safety classifier (never logged or
stored by this module).

- `request_text(body)`: a Messages API body's system prompt and messages;
- `batch_request_texts(body)`: each request of a new message batch, one text per request;
- `message_text(message)`: a Message object's output (text, thinking, tool inputs);
- `json_text(value)`: every string value of a JSON document whose schema the gateway does not
  read (Claude Code's server-side storage routes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

MAX_DEPTH = 8
MAX_JSON_DEPTH = 32
# Blocks whose `title` / `context` are text the model reads (documents, search results).
TITLED_BLOCKS = frozenset({"document", "search_result"})


def request_text(body: Mapping[str, Any] | None) -> str:
    """The text of a Messages API body's system prompt and messages, joined by newlines: text
    blocks and plain-string contents, tool results', documents' and search results' included
    (a document's plain-text `data` source or `content` source, titles and context). Images,
    base64 and file sources, tool inputs and thinking are left out."""
    if body is None:
        return ""
    parts: list[str] = []
    _collect(body.get("system"), parts)
    messages = body.get("messages")
    if isinstance(messages, list):
        add = parts.append
        for message in messages:
            if isinstance(message, dict):
                content = message.get("content")
                if isinstance(content, str):    # the common turn: what `_collect` adds for it
                    add(content)
                else:
                    _collect(content, parts)
    return "\n".join(parts)


def batch_request_texts(body: Mapping[str, Any] | None) -> list[str]:
    """One `request_text` per request of a `POST /v1/messages/batches` body (its `params`)."""
    requests = body.get("requests") if body is not None else None
    if not isinstance(requests, list):
        return []
    texts = []
    for request in requests:
        params = request.get("params") if isinstance(request, dict) else None
        texts.append(request_text(params) if isinstance(params, dict) else "")
    return texts


def message_text(message: Mapping[str, Any]) -> str:
    """The output of a Message object: its text, thinking and tool inputs (as JSON)."""
    content = message.get("content")
    return "".join(content_texts(content)) if isinstance(content, list) else ""


def content_texts(blocks: list[Any]) -> list[str]:
    """The text of each output content block (what `message_text` joins)."""
    parts = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block.get("thinking"), str):
            parts.append(block["thinking"])
        elif "input" in block:
            parts.append(orjson.dumps(block["input"]).decode())
    return parts


def json_text(value: Any) -> str:
    """Every string value (not the keys) of a JSON document, joined by newlines."""
    parts: list[str] = []
    _walk(value, parts, 0, MAX_JSON_DEPTH, _values)
    return "\n".join(parts)


def _walk(value: Any, parts: list[str], depth: int, limit: int,
          opened: Callable[[dict[str, Any], list[str]], Iterable[Any]]) -> None:
    """Strings as they are, lists item by item, objects by `opened` (which adds an object's own
    text to `parts` and gives what to walk inside it), down to `limit` levels."""
    if depth > limit:
        return
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, list):
        for item in value:
            _walk(item, parts, depth + 1, limit, opened)
    elif isinstance(value, dict):
        for inner in opened(value, parts):
            _walk(inner, parts, depth + 1, limit, opened)


def _collect(value: Any, parts: list[str]) -> None:
    """The text of a system prompt or a message's content (`request_text`)."""
    _walk(value, parts, 0, MAX_DEPTH, _block)


def _block(value: dict[str, Any], parts: list[str]) -> list[Any]:
    """A content block's own text; what it nests (a `content` source, its `content`)."""
    inner: list[Any] = []
    kind = value.get("type", "text")
    text = value.get("text")
    if isinstance(text, str) and kind == "text":
        parts.append(text)
    if kind in TITLED_BLOCKS:
        for name in ("title", "context"):
            if isinstance(value.get(name), str):
                parts.append(value[name])
    source = value.get("source")
    if isinstance(source, dict):
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            parts.append(source["data"])
        elif source.get("type") == "content":
            inner.append(source.get("content"))
    content = value.get("content")
    if content is not None:
        inner.append(content)
    return inner


def _values(value: dict[str, Any], _parts: list[str]) -> Iterable[Any]:
    return value.values()
