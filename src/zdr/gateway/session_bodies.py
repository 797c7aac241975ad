"""What a Claude Code / Managed Agents session body names that the gateway must check.

Session routes (`POST /v1/sessions`, `/v1/code/sessions`, a session's update and events) carry
JSON bodies the policy's Messages reader does not understand. Two things in them matter:

- a model (`"model": "…"` or `"model": {"id": "…"}` at any depth, e.g. an inline agent's): it
  becomes the request's model fact, so the covered-model rule refuses a covered model from a ZDR
  scope exactly as on `/v1/messages` (a covered one wins over others);
- file ids (`"file_id": "…"` at any depth, e.g. a session's mounted `resources`): each must be the
  caller's org's (`zdr.gateway.ownership`), else `404`.

Agent, environment and vault ids (`agent`, `environment_id`, `vault_ids`) are not checked: the
gateway serves no route that creates them, so no org owns them (see SECURITY.md, known gaps).
A body nested deeper than `MAX_DEPTH` names an id nobody owns, so it is refused.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from zdr.catalog.schema import Catalog
from zdr.policy.facts import RequestFacts

MAX_DEPTH = 64
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def named_values(body: Any, key: str) -> tuple[list[str], bool]:
    """Every string named by `key` anywhere in `body` (a `{"id": …}` object counts), and whether
    the body was too deep to read whole."""
    found: list[str] = []
    too_deep = False
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            too_deep = True
            continue
        if isinstance(value, dict):
            for name, item in value.items():
                if name == key:
                    named = item.get("id") if isinstance(item, dict) else item
                    found.append(named if isinstance(named, str) else "")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return found, too_deep


def session_file_ids(body: dict[str, Any] | None) -> set[str]:
    """The file ids a session body references ("" when one is not a string or too deep)."""
    ids, too_deep = named_values(body, "file_id")
    return {*ids, ""} if too_deep else set(ids)


def with_session_model(facts: RequestFacts, body: dict[str, Any] | None,
                       catalog: Catalog) -> RequestFacts:
    """`facts` with the model a session body chooses (a covered one first), if it names one."""
    models, _ = named_values(body, "model")
    if not models or facts.model is not None:
        return facts
    names = [_plain(model) for model in models]
    chosen = next((name for name in names if catalog.model_class(name) == "covered"), names[0])
    return replace(facts, model=chosen)


def _plain(value: str) -> str:
    """A name fit for facts and the record (as the policy's extractor makes them)."""
    if PLAIN_NAME.fullmatch(value):
        return value
    cleaned = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in value[:64])
    return cleaned or "_"
