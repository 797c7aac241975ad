"""The stand-in upstream's stateful objects beyond files and batches, in the provider's wire format:
Agent Skills (`/v1/skills…`, ids `skill_…`, with versions), Managed Agents sessions
(`/v1/sessions…`, ids `sesn_…`, with events), Claude Code's remote sessions
(`/v1/code/sessions…`, ids `cse_…`) and code-execution containers (ids `container_…`, created by a
Messages request that runs code, named again by a later request's `container`).

Like the provider behind one key, it cannot tell orgs apart: any id it created is served to
anyone who names it. Unknown ids get a 404 `not_found_error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from zdr.testing.stub_upstream import StubUpstream

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOW = "2026-01-01T00:00:00Z"
CONTAINER_EXPIRES = "2026-01-31T00:00:00Z"
PUBLIC_SKILL_TYPE = "anthropic"


def _list(items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    data = list(reversed(items.values()))
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "next_page": None}


class StubResources:
    """Handlers for `StubUpstream` (which supplies ids, the prelude, JSON and 404 answers)."""

    def __init__(self, stub: StubUpstream) -> None:
        self.stub = stub
        self.skills: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, dict[str, Any]]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, dict[str, Any]]] = {}
        self.containers: dict[str, dict[str, Any]] = {}

    def add_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_route("*", "/v1/skills{tail:.*}", self._guarded(self.skill_routes))
        router.add_route("*", "/v1/sessions{tail:.*}", self._guarded(self.session_routes))
        router.add_route("*", "/v1/code/sessions{tail:.*}", self._guarded(self.code_routes))

    def _guarded(self, handler: Callable[[web.Request, list[str]], Awaitable[web.Response]]
                 ) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            failed = await self.stub._prelude(request)
            if failed is not None:
                return failed
            await request.read()
            tail = [part for part in request.match_info["tail"].split("/") if part]
            return await handler(request, tail)
        return handle

    # ------------------------------------------------------------------ skills
    async def skill_routes(self, request: web.Request, tail: list[str]) -> web.Response:
        stub, method = self.stub, request.method
        if not tail:
            if method == "POST":
                skill_id = stub.new_id("skill")
                version = str(1759178010641129 + len(self.skills))
                created: dict[str, Any] = {"id": skill_id, "type": "skill", "source": "custom",
                                           "display_title": "Stand-in skill",
                                           "latest_version": version, "created_at": NOW,
                                           "updated_at": NOW}
                self.skills[skill_id] = created
                self.versions[skill_id] = {version: self._version(skill_id, version)}
                return stub._json(request, created)
            return stub._json(request, _list(self.skills))
        skill = self.skills.get(tail[0])
        if skill is None:
            return stub._missing(request, "skill")
        skill_id, rest = tail[0], tail[1:]
        if not rest:
            if method == "DELETE":
                del self.skills[skill_id]
                self.versions.pop(skill_id, None)
                return stub._json(request, {"id": skill_id, "type": "skill_deleted"})
            return stub._json(request, skill)
        versions = self.versions.setdefault(skill_id, {})
        if rest == ["versions"]:
            if method == "POST":
                version = str(1759178010641129 + 1000 + len(versions))
                versions[version] = self._version(skill_id, version)
                skill["latest_version"] = version
                return stub._json(request, versions[version])
            return stub._json(request, _list(versions))
        found = versions.get(rest[1]) if len(rest) == 2 else None
        if found is None:
            return stub._missing(request, "skill version")
        if method == "DELETE":
            del versions[rest[1]]
            return stub._json(request, {"id": found["id"], "type": "skill_version_deleted"})
        return stub._json(request, found)

    def _version(self, skill_id: str, version: str) -> dict[str, Any]:
        return {"id": self.stub.new_id("skillver"), "type": "skill_version",
                "skill_id": skill_id, "version": version, "name": "stand-in",
                "description": "A stand-in skill.", "directory": "stand-in", "created_at": NOW}

    # ------------------------------------------------------------------ sessions
    async def session_routes(self, request: web.Request, tail: list[str]) -> web.Response:
        return await self._sessions(request, tail, "sesn", wrap=False)

    async def code_routes(self, request: web.Request, tail: list[str]) -> web.Response:
        return await self._sessions(request, tail, "cse", wrap=True)

    async def _sessions(self, request: web.Request, tail: list[str], prefix: str, *,
                        wrap: bool) -> web.Response:
        stub, method = self.stub, request.method
        mine = {k: v for k, v in self.sessions.items() if k.startswith(prefix + "_")}
        if not tail:
            if method == "POST":
                body = _json_body(await request.read())
                session_id = stub.new_id(prefix)
                new: dict[str, Any] = {
                    "id": session_id, "type": "session", "status": "idle",
                    "agent": {"id": "agent_stub", "type": "agent", "version": 1},
                    "environment_id": body.get("environment_id", "env_stub"),
                    "title": body.get("title"), "metadata": {}, "archived_at": None,
                    "created_at": NOW, "updated_at": NOW}
                self.sessions[session_id] = new
                self.events[session_id] = {}
                return stub._json(request, {"session": new} if wrap else new)
            return stub._json(request, _list(mine))
        session = mine.get(tail[0])
        if session is None:
            return stub._missing(request, "session")
        session_id, rest = tail[0], tail[1:]
        if not rest:
            if method == "DELETE":
                del self.sessions[session_id]
                self.events.pop(session_id, None)
                return stub._json(request, {"id": session_id, "type": "session_deleted"})
            if method == "POST":
                body = _json_body(await request.read())
                if isinstance(body.get("title"), str):
                    session["title"] = body["title"]
            return stub._json(request, session)
        if rest == ["archive"]:
            session.update(status="terminated", archived_at=NOW)
            return stub._json(request, session)
        events = self.events.setdefault(session_id, {})
        if rest == ["events"]:
            if method == "POST":
                sent = _json_body(await request.read()).get("events")
                added = []
                for event in sent if isinstance(sent, list) else ():
                    if isinstance(event, dict):
                        event_id = stub.new_id("sevt")
                        events[event_id] = {**event, "id": event_id, "processed_at": NOW}
                        added.append(events[event_id])
                return stub._json(request, {"data": added})
            return stub._json(request, _list(events))
        if rest == ["events", "stream"]:
            stream = b"".join(b"event: " + str(e.get("type", "message")).encode()
                              + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events.values())
            stub.stats.completed += 1
            return web.Response(body=stream, content_type="text/event-stream")
        return stub._missing(request, "session resource")

    # ------------------------------------------------------------------ containers
    def container_for(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """The container a Messages request runs in (None when it runs no code), or what it
        names that does not exist ("container" / "skill")."""
        named = body.get("container")
        container_id = named if isinstance(named, str) else \
            named.get("id") if isinstance(named, dict) else None
        skills = named.get("skills") if isinstance(named, dict) else None
        for skill in skills if isinstance(skills, list) else ():
            if isinstance(skill, dict) and skill.get("type") != PUBLIC_SKILL_TYPE \
                    and skill.get("skill_id") not in self.skills:
                return None, "skill"
        if container_id is not None:
            container = self.containers.get(container_id)
            return (container, None) if container is not None else (None, "container")
        tools = body.get("tools")
        runs_code = named is not None or any(
            isinstance(t, dict) and str(t.get("type", "")).startswith("code_execution")
            for t in (tools if isinstance(tools, list) else ()))
        if not runs_code:
            return None, None
        container = {"id": self.stub.new_id("container"), "expires_at": CONTAINER_EXPIRES,
                     "skills": [s for s in skills if isinstance(s, dict)]
                     if isinstance(skills, list) else None}
        self.containers[container["id"]] = container
        return container, None


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
