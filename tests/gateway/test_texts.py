"""The text the classifier reads of a request: every block the model reads as text, nothing else."""

import pytest

from zdr.gateway.texts import batch_request_texts, json_text, message_text, request_text


def user(*blocks):
    return {"messages": [{"role": "user", "content": list(blocks)}]}


@pytest.mark.parametrize(("body", "expected"), [
    # plain string content and a system prompt
    ({"system": "sys", "messages": [{"role": "user", "content": "hi"}]}, "sys\nhi"),
    # text blocks, in order
    (user({"type": "text", "text": "a"}, {"type": "text", "text": "b"}), "a\nb"),
    # a document with a plain-text source: its data, title and context are read
    (user({"type": "document", "title": "T", "context": "C",
           "source": {"type": "text", "media_type": "text/plain", "data": "doc body"}}),
     "T\nC\ndoc body"),
    # a document with a content source: its text blocks (or string) are read
    (user({"type": "document", "source": {"type": "content", "content": [
        {"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}}),
     "part one\npart two"),
    (user({"type": "document", "source": {"type": "content", "content": "whole"}}), "whole"),
    # a search result: title and its text blocks (its `source` is a URL, not text)
    (user({"type": "search_result", "source": "https://example.com/x", "title": "Result",
           "content": [{"type": "text", "text": "snippet"}]}), "Result\nsnippet"),
    # search results and documents inside a tool result
    (user({"type": "tool_result", "tool_use_id": "t", "content": [
        {"type": "search_result", "source": "u", "title": "R", "content": [
            {"type": "text", "text": "inner"}]},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                        "data": "tool doc"}}]}),
     "R\ninner\ntool doc"),
    # not text: base64 and file sources, images, tool inputs, thinking
    (user({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                          "data": "JVBERi0="}},
          {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
          {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
          {"type": "tool_use", "id": "t", "name": "n", "input": {"q": "x"}},
          {"type": "thinking", "thinking": "hmm", "signature": "s"}), ""),
    # nothing at all
    (None, ""),
], ids=["string", "text-blocks", "document-text", "document-content", "document-content-str",
        "search-result", "in-tool-result", "not-text", "none"])
def test_request_text(body, expected):
    assert request_text(body) == expected


def test_batch_request_texts_one_per_request():
    body = {"requests": [
        {"custom_id": "a", "params": {"messages": [{"role": "user", "content": "first"}]}},
        {"custom_id": "b", "params": "not an object"},
        "not a request",
        {"custom_id": "c", "params": {"system": "s", "messages": []}},
    ]}
    assert batch_request_texts(body) == ["first", "", "", "s"]
    assert batch_request_texts({"requests": "x"}) == [] and batch_request_texts(None) == []


def test_message_text_reads_output_blocks():
    message = {"content": [{"type": "text", "text": "a"}, {"type": "thinking", "thinking": "b"},
                           {"type": "tool_use", "input": {"k": "v"}}, "junk"]}
    assert message_text(message) == 'ab{"k":"v"}'
    assert message_text({"content": "x"}) == ""


def test_json_text_reads_values_not_keys():
    assert json_text({"key-not-read": "value", "n": 1, "list": ["a", {"b": "c"}]}) == \
        "value\na\nc"


def test_json_text_stops_at_depth():
    deep = "bottom"
    for _ in range(100):
        deep = [deep]
    assert json_text(deep) == ""


# The classifier's input text of a request, as it was read before the walk was unrolled: the
# unrolled `request_text` must give exactly this text for any body, at any depth.
def _reference_request_text(body):
    def walk(value, parts, depth):
        if depth > 8:
            return
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item, parts, depth + 1)
        elif isinstance(value, dict):
            for inner in block(value, parts):
                walk(inner, parts, depth + 1)

    def block(value, parts):
        inner = []
        kind = value.get("type", "text")
        text = value.get("text")
        if isinstance(text, str) and kind == "text":
            parts.append(text)
        if kind in frozenset({"document", "search_result"}):
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

    if body is None:
        return ""
    parts = []
    walk(body.get("system"), parts, 0)
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                walk(message.get("content"), parts, 0)
    return "\n".join(parts)


def _nested(depth):
    """Content blocks nested `depth` levels (tool results in tool results), text at each."""
    content = [{"type": "text", "text": f"level {depth}"}]
    for level in range(depth - 1, -1, -1):
        content = [{"type": "text", "text": f"level {level}"},
                   {"type": "tool_result", "tool_use_id": "t", "content": content},
                   {"type": "document", "source": {"type": "content", "content": content}}]
    return content


@pytest.mark.parametrize("depth", range(0, 12))
def test_request_text_of_deep_nesting_is_unchanged(depth):
    body = {"system": [{"type": "text", "text": "sys"}],
            "messages": [{"role": "user", "content": _nested(depth)}, "turn", 7,
                         {"role": "assistant", "content": [[["deep", [[["deeper"]]]]]]}]}
    assert request_text(body) == _reference_request_text(body)


def _conversation(turns):
    """A long multi-turn conversation: plain turns, text blocks, tool use and results."""
    messages = []
    for turn in range(turns):
        text = f"turn {turn}: the quarterly report lists revenue by region " * 20
        messages += [
            {"role": "user", "content": text},
            {"role": "assistant", "content": [
                {"type": "text", "text": text[:200]},
                {"type": "tool_use", "id": f"toolu_{turn}", "name": "search",
                 "input": {"query": text[:40]}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{turn}",
                 "content": [{"type": "text", "text": text}], "cache_control": {}}]},
        ]
    return {"system": "You are terse.", "messages": messages}


def test_request_text_of_a_long_conversation_is_unchanged():
    body = _conversation(200)
    assert request_text(body) == _reference_request_text(body)
    assert len(request_text(body)) > 400_000


_BLOCK_KEYS = ["type", "text", "title", "context", "source", "content", "data"]
_BLOCK_WORDS = ["text", "document", "search_result", "content", "tool_result", "image"]


def _json_values():
    from hypothesis import strategies as st

    leaves = st.one_of(st.none(), st.integers(), st.sampled_from(_BLOCK_WORDS),
                       st.text(max_size=5))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(_BLOCK_KEYS), inner, max_size=5)), max_leaves=40)


def test_request_text_of_any_body_is_unchanged():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.fixed_dictionaries({"system": _json_values(), "messages": st.lists(
        st.one_of(st.fixed_dictionaries({"role": st.just("user"), "content": _json_values()}),
                  _json_values()), max_size=4)}))
    def check(body):
        try:
            expected = _reference_request_text(body)
        except TypeError:           # an unhashable block type: both refuse it alike
            with pytest.raises(TypeError):
                request_text(body)
            return
        assert request_text(body) == expected

    check()
