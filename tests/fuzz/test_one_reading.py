"""Exactly one reading of a request (DESIGN.md §6): a key repeated in any JSON object of a body —
top level, nested, inside an array, spelled with escapes, first or last — is a 400 in the API's
error format on every JSON route, for every kind of org; nothing of it reaches the upstream, the
logs or the store, and the message names no key."""

from __future__ import annotations

import json
from typing import Any

import orjson
from gateway_under_fuzz import FuzzGateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_input import ORGS, assert_refused_without_trace, headers_for, new_canary

from zdr.gateway.body import DUPLICATE_KEY

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
ROUTES = ("/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches")

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10)
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(names, inner, max_size=3), max_leaves=10)


def request_for(route: str, canary: str, extra: Any) -> dict[str, Any]:
    params = {"model": "claude-sonnet-4-5", "max_tokens": 16, "metadata": {"tree": extra},
              "messages": [{"role": "user", "content": [{"type": "text",
                                                          "text": f"hello {canary}"}]}]}
    if route.endswith("/batches"):
        return {"requests": [{"custom_id": "one", "params": params}]}
    return params


def escaped(key: str) -> str:
    """The same key with its first character written as a \\u escape (or as is when empty)."""
    if not key:
        return '""'
    head = key[0]
    units = head.encode("utf-16-be")      # one code unit, or a surrogate pair
    head_text = "".join(f"\\u{units[i:i + 2].hex()}" for i in range(0, len(units), 2))
    return '"' + head_text + json.dumps(key[1:])[1:]


def with_duplicate(value: Any, target: int, first: bool, spelled: bool, canary: str) -> str:
    """`value` as JSON, the `target`-th object (depth first) repeating one of its keys."""
    seen = [0]

    def encode(node: Any) -> str:
        if isinstance(node, list):
            return "[" + ",".join(encode(item) for item in node) + "]"
        if not isinstance(node, dict):
            return json.dumps(node)
        index = seen[0]
        seen[0] += 1
        pairs = [json.dumps(k) + ":" + encode(v) for k, v in node.items()]
        if index == target:
            key = next(iter(node), f"KEYCANARY-{canary}")
            extra = (escaped(key) if spelled else json.dumps(key)) + ':"' + canary + '"'
            if not node:
                pairs.append(json.dumps(key) + ":0")
            pairs.insert(0 if first else len(pairs), extra)
        return "{" + ",".join(pairs) + "}"

    return encode(value)


def objects_in(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(objects_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(objects_in(v) for v in value)
    return 0


@FUZZ
@given(org=st.sampled_from(ORGS), route=st.sampled_from(ROUTES), extra=trees,
       pick=st.floats(0, 1, exclude_max=True), first=st.booleans(), spelled=st.booleans())
def test_a_repeated_key_anywhere_is_refused(fuzz_gateway: FuzzGateway, org: str, route: str,
                                            extra: Any, pick: float, first: bool,
                                            spelled: bool) -> None:
    canary = new_canary()
    value = request_for(route, canary, extra)
    text = with_duplicate(value, int(pick * objects_in(value)), first, spelled, canary)
    assert json.loads(text) != value or first     # the last copy wins in most parsers
    before, recorded = fuzz_gateway.upstream.received, len(fuzz_gateway.sink.metadata)
    answer = fuzz_gateway.request("POST", route, headers_for(fuzz_gateway, org),
                                  [text.encode()])
    assert answer.status == 400, answer.body[:200]
    error = orjson.loads(answer.body)["error"]
    assert error == {"type": "invalid_request_error", "message": DUPLICATE_KEY}
    assert_refused_without_trace(fuzz_gateway, answer, canary)
    assert fuzz_gateway.upstream.received == before, "a body read two ways reached the upstream"
    meta = fuzz_gateway.sink.metadata[recorded:]
    assert [(m.outcome, m.status_code) for m in meta] == [("bad_request", 400)]


@settings(FUZZ, max_examples=40)
@given(org=st.sampled_from(ORGS), route=st.sampled_from(ROUTES), extra=trees)
def test_the_same_bodies_without_the_repeat_are_read(fuzz_gateway: FuzzGateway, org: str,
                                                     route: str, extra: Any) -> None:
    """The control: what the property above builds, minus the repeated key, is not refused for
    its JSON (the policy or the upstream may still refuse it for other reasons)."""
    canary = new_canary()
    text = json.dumps(request_for(route, canary, extra), separators=(",", ":"))
    answer = fuzz_gateway.request("POST", route, headers_for(fuzz_gateway, org),
                                  [text.encode()])
    assert orjson.loads(answer.body).get("error", {}).get("message") != DUPLICATE_KEY
