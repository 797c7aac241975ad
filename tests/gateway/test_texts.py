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
