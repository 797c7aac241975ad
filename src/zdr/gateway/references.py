"""Upstream ids a Messages body names besides files: its code-execution `container` and the
custom Agent Skills loaded into it. Each must belong to the caller's org
(`zdr.gateway.ownership`), or the provider would run org B's request in org A's container, with
org A's files and skills in it.

    "container": "container_011…"                                  an id from an earlier response
    "container": {"id": "container_011…", "skills": [               the same, as an object
        {"type": "custom", "skill_id": "skill_01…", "version": "latest"},
        {"type": "anthropic", "skill_id": "pptx"}]}                 public: not an org's id

A skill of any type but `anthropic` is treated as custom (an unknown type cannot widen access),
and an id that is not a string as an id nobody owns (refused).
A new batch's requests are read the same way, each `params` as one Messages body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PUBLIC_SKILL_TYPE = "anthropic"


@dataclass(slots=True)
class ContainerReferences:
    containers: set[str] = field(default_factory=set)
    skills: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.containers or self.skills)


def container_references(body: dict[str, Any] | None) -> ContainerReferences:
    """The container ids and custom skill ids `body` (or each request of a new batch) names."""
    found = ContainerReferences()
    if not isinstance(body, dict):
        return found
    requests = body.get("requests")
    if isinstance(requests, list):
        for request in requests:
            if isinstance(request, dict) and isinstance(request.get("params"), dict):
                _container(request["params"].get("container"), found)
    else:
        _container(body.get("container"), found)
    return found


def _container(value: Any, found: ContainerReferences) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        found.containers.add(_id(value))
        return
    if value.get("id") is not None:
        found.containers.add(_id(value["id"]))
    skills = value.get("skills")
    for skill in skills if isinstance(skills, list) else ():
        if isinstance(skill, dict) and skill.get("type") != PUBLIC_SKILL_TYPE \
                and skill.get("skill_id") is not None:
            found.skills.add(_id(skill["skill_id"]))


def _id(value: Any) -> str:
    """An id as named; "" (an id nobody owns) when it is not a string, so it is refused."""
    return value if isinstance(value, str) else ""
