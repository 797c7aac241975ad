"""`zdr.gateway.body.read_json_object`: a body is read exactly one way, or refused with a message
that says what to fix and quotes nothing of it."""

import json

import pytest

from zdr.gateway.body import (
    DUPLICATE_KEY,
    NOT_JSON,
    NOT_OBJECT,
    TOO_DEEP,
    UnreadableBody,
    read_json_object,
)

KEY = "KEYCANARY7f3a9"      # a client-chosen key name: never echoed


@pytest.mark.parametrize(("body", "message"), [
    # a key twice in the top object: orjson keeps the last, some parsers the first
    (b'{"model":"claude-sonnet-5","model":"claude-mythos-5"}', DUPLICATE_KEY),
    # the same key spelled with an escape is the same key
    (b'{"model":"claude-sonnet-5","m\\u006fdel":"claude-mythos-5"}', DUPLICATE_KEY),
    # deep in a nested object
    (b'{"a":{"b":{"c":{"d":1,"d":2}}}}', DUPLICATE_KEY),
    # in an object inside an array (a content block)
    (b'{"messages":[{"role":"user","content":[{"type":"text","text":"x","type":"document"}]}]}',
     DUPLICATE_KEY),
    # in a batch request's params
    (b'{"requests":[{"custom_id":"a","params":{"model":"m","max_tokens":1,"max_tokens":2}}]}',
     DUPLICATE_KEY),
    # the empty key twice
    (b'{"":1,"":2}', DUPLICATE_KEY),
    # a client-chosen key name twice: refused without naming it
    (b'{"' + KEY.encode() + b'":1,"' + KEY.encode() + b'":2}', DUPLICATE_KEY),
    # lone surrogate escapes, high and low, in a value and in a key
    (b'{"a":"\\ud800"}', NOT_JSON),
    (b'{"a":"\\udc00x"}', NOT_JSON),
    (b'{"a":"\\ud800\\u0041"}', NOT_JSON),
    (b'{"\\ud800":1}', NOT_JSON),
    # invalid UTF-8: a stray byte, an overlong form, an encoded surrogate
    (b'{"a":"\xff"}', NOT_JSON),
    (b'{"a":"\xc0\xaf"}', NOT_JSON),
    (b'{"a":"\xed\xa0\x80"}', NOT_JSON),
    # not JSON that every parser reads alike
    (b'{"a":NaN}', NOT_JSON),
    (b'{"a":Infinity}', NOT_JSON),
    (b'\xef\xbb\xbf{"a":1}', NOT_JSON),            # byte order mark
    (b'{"a":1} {"a":2}', NOT_JSON),               # trailing document
    (b'{"a":1', NOT_JSON),
    (b"", NOT_JSON),
    (b'{"a":"x\x01y"}', NOT_JSON),               # raw control character
    (b'{"a":' + b"[" * 300 + b"]" * 300 + b"}", TOO_DEEP),
    # valid JSON, but not an object
    (b'["a"]', NOT_OBJECT),
    (b'"a"', NOT_OBJECT),
    (b"null", NOT_OBJECT),
], ids=lambda v: v[:40].decode("latin-1") if isinstance(v, bytes) else "")
def test_refused_bodies(body, message):
    with pytest.raises(UnreadableBody) as refused:
        read_json_object(body)
    assert refused.value.message == message
    assert KEY not in str(refused.value)
    # the parser's own error (which names the key) is not chained into a traceback
    error = refused.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize("value", [
    {"model": "claude-sonnet-5", "max_tokens": 16,
     "messages": [{"role": "user", "content": "hello"}]},
    # the same key in sibling objects is not a duplicate
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    {"a": {"a": {"a": 1}}},
    {"emoji": "\U0001f600", "escaped pair": "\ud83d\ude00".encode("utf-16", "surrogatepass")
     .decode("utf-16"), "nul": "\x00"},
    {"big": 123456789012345678901234567890, "neg": -0.5e-3},
    {"deep": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]},
])
def test_accepted_bodies_read_as_every_parser_reads_them(value):
    for encoded in (json.dumps(value, separators=(",", ":")).encode(), json.dumps(value).encode(),
                    json.dumps(value, indent=2).encode(), json.dumps(value).encode() + b"\n"):
        assert read_json_object(encoded) == json.loads(encoded) == value


def test_surrogate_pair_escape_is_one_character():
    assert read_json_object(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001f600"}
