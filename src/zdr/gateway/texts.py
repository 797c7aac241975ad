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
    add = parts.append
    _content_text(body.get("system"), add, 0)
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                content = message.get("content")
                if isinstance(content, str):    # a plain-text turn
                    add(content)
                else:
                    _content_text(content, add, 0)
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


def _content_text(value: Any, add: Callable[[str], None], depth: int) -> None:
    """The text of a system prompt or a message's content at `depth` (`request_text`): strings
    as they are, lists item by item, content blocks by `_block_text`, down to `MAX_DEPTH` levels.
    (What `_walk` would add with a block opener, in the same order; unrolled because a long
    conversation has thousands of blocks.)"""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        add(value)
    elif isinstance(value, list):
        depth += 1
        if depth > MAX_DEPTH:
            return
        for item in value:
            if isinstance(item, dict):
                _block_text(item, add, depth)
            elif isinstance(item, str):
                add(item)
            elif isinstance(item, list):
                _content_text(item, add, depth)
    elif isinstance(value, dict):
        _block_text(value, add, depth)


def _block_text(block: dict[str, Any], add: Callable[[str], None], depth: int) -> None:
    """A content block's own text (a text block's `text`, a document's or search result's
    `title` and `context`, a plain-text source's `data`), then what it nests (a `content`
    source, its `content`), one level deeper."""
    kind = block.get("type", "text")
    if kind == "text":
        text = block.get("text")
        if isinstance(text, str):
            add(text)
    elif kind in TITLED_BLOCKS:
        for name in ("title", "context"):
            field = block.get(name)
            if isinstance(field, str):
                add(field)
    source = block.get("source")
    if isinstance(source, dict):
        source_type = source.get("type")
        if source_type == "text":
            data = source.get("data")
            if isinstance(data, str):
                add(data)
        elif source_type == "content":
            _content_text(source.get("content"), add, depth + 1)
    content = block.get("content")
    if content is not None:
        _content_text(content, add, depth + 1)


def _values(value: dict[str, Any], _parts: list[str]) -> Iterable[Any]:
    return value.values()
