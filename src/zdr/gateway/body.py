"""One reading of a JSON request body: what the policy decides on is what the upstream receives.

JSON parsers disagree on a body that repeats a key in one object: most (orjson, Python's json,
JavaScript's JSON.parse) keep the last value, others keep the first or refuse. A body such as
`{"model": "claude-sonnet-5", ..., "model": "claude-mythos-5"}` could then be decided on as one
request and served as another, so a repeated key anywhere in the body — at any depth, inside
arrays, also when written with different escapes (`"model"` and `"m\\u006fdel"`) — refuses the
request. So do invalid UTF-8, lone surrogate escapes (`"\\ud800"`), `NaN`/`Infinity`, trailing
data and nesting deeper than the parser's limit (200 levels).

The parser is jiter (pydantic's Rust JSON parser) with `catch_duplicate_keys`: one pass, no
second parse to look for duplicates. Measured (bench/body.py) against orjson's parse, which has
no such check: about 1.4x on a 180 KB conversation (+75 µs), +1 µs on a small request; checking
with `json.loads(object_pairs_hook=...)` instead costs 6-12x.
`cache_mode="none"`: no string of a request is kept in the parser's process-wide cache after it.

Error messages say what to fix and quote nothing of the body: not a value, not a key name (keys
are chosen by the client and may be content too).
"""

from __future__ import annotations

from typing import Any

import jiter

from zdr.errors import InvalidRequest

DUPLICATE_KEY = ("The request body repeats a key within one JSON object; send each key once "
                 "(the gateway refuses bodies that JSON parsers could read differently).")
TOO_DEEP = "The request body is nested too deeply; send a flatter JSON document."
NOT_JSON = ("The request body is not valid JSON (or not valid UTF-8): check its syntax, its "
            "encoding, and that every \\u escape is a whole character (no lone surrogates).")
NOT_OBJECT = "The request body must be a JSON object."


class UnreadableBody(InvalidRequest):
    """The body is not one unambiguous JSON object (400). `message` is safe to show the client."""


def read_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, read exactly one way, or `UnreadableBody`."""
    try:
        value = jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True,
                                cache_mode="none")
    except ValueError as error:
        # jiter's text names the key or position; only its kind is used, never shown.
        raise UnreadableBody(_message_for(str(error))) from None
    if not isinstance(value, dict):
        raise UnreadableBody(NOT_OBJECT)
    return value


def _message_for(reason: str) -> str:
    if reason.startswith("Detected duplicate key"):
        return DUPLICATE_KEY
    if reason.startswith("recursion limit exceeded"):
        return TOO_DEEP
    return NOT_JSON
