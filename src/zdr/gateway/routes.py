"""The closed route table: every path the gateway relays, with its methods, whether the policy
reads its JSON body, and whose ids it names. A path not in the table is a 404; a listed path with
a method it does not list is a 405. Paths are matched as sent (`zdr.gateway.paths` has already
refused dot segments, encoded slashes and the like), segment by segment, with no trailing slash.

A pattern's placeholders say what a segment is:

- `{id}`    an upstream object that belongs to one org (`Route.owner` names its kind): the
            ownership guard (`zdr.gateway.ownership`) answers the request, and relays it only for
            the org that created the id;
- `{model}` a public model id; `{version}` a version of the `{id}` before it (checked with it).

A route with no `owner` carries no org's upstream id in its path; a route whose JSON body may name
ids (`body_ids`: `file_id`s, `container`, custom `skill_id`s) has them checked before relaying.
"""

from __future__ import annotations

from dataclasses import dataclass

from zdr.catalog.schema import Catalog
from zdr.gateway.paths import resource_id

GET = frozenset({"GET"})
POST = frozenset({"POST"})
GET_POST = frozenset({"GET", "POST"})
GET_DELETE = frozenset({"GET", "DELETE"})
GET_POST_DELETE = frozenset({"GET", "POST", "DELETE"})
PLACEHOLDERS = frozenset({"{id}", "{model}", "{version}"})


@dataclass(frozen=True, slots=True)
class Route:
    name: str                 # a closed set, safe as a metrics label
    pattern: str              # "/v1/files/{id}/content"
    methods: frozenset[str]
    json_body: bool           # a POST body must be a JSON object, and the policy reads it
    content: bool             # the response carries message content (observe it)
    owner: str | None = None  # kind of the org-owned upstream id it names, creates or lists
    body_ids: bool = False    # its JSON body may reference upstream ids: checked before relaying

    @property
    def owned(self) -> bool:
        """The ownership guard answers this route (create, list, or one id)."""
        return self.owner is not None

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.pattern[1:].split("/"))

    @property
    def names_id(self) -> bool:
        return "{id}" in self.segments


def _routes(name: str, owner: str | None, *table: tuple[str, frozenset[str]],
            json_post: bool = False) -> list[Route]:
    """`json_post`: a POST's body is one JSON object, read once (`zdr.gateway.body`) and checked
    for the model and file ids it names (`zdr.gateway.session_bodies`)."""
    return [Route(name, pattern, methods, json_body=json_post and "POST" in methods,
                  content=False, owner=owner, body_ids=json_post and "POST" in methods)
            for pattern, methods in table]


MESSAGES = Route("messages", "/v1/messages", POST, json_body=True, content=True, body_ids=True)
COUNT_TOKENS = Route("count_tokens", "/v1/messages/count_tokens", POST, json_body=True,
                     content=True, body_ids=True)
BATCHES = Route("batches", "/v1/messages/batches", GET_POST, json_body=True, content=False,
                owner="batch", body_ids=True)
FILES = Route("files", "/v1/files", GET_POST, json_body=False, content=False, owner="file")
SKILLS = Route("skills", "/v1/skills", GET_POST, json_body=False, content=False, owner="skill")

# Claude Code's server-storage roots (the catalog's `claude_code.server_storage_paths`).
SESSIONS_ROOT, CODE_SESSIONS_ROOT, FEEDBACK_ROOT = (
    "/v1/sessions", "/v1/code/sessions", "/api/claude_cli_feedback")
STORAGE = "claude_code_storage"

TABLE: tuple[Route, ...] = (
    MESSAGES,
    COUNT_TOKENS,
    *_routes("models", None, ("/v1/models", GET), ("/v1/models/{model}", GET)),
    BATCHES,
    *_routes("batches", "batch",
             ("/v1/messages/batches/{id}", GET_DELETE),
             ("/v1/messages/batches/{id}/cancel", POST),
             ("/v1/messages/batches/{id}/results", GET)),
    FILES,
    *_routes("files", "file", ("/v1/files/{id}", GET_DELETE), ("/v1/files/{id}/content", GET)),
    SKILLS,
    *_routes("skills", "skill",
             ("/v1/skills/{id}", GET_DELETE),
             ("/v1/skills/{id}/versions", GET_POST),
             ("/v1/skills/{id}/versions/{version}", GET_DELETE)),
    *_routes(STORAGE, "session",
             (SESSIONS_ROOT, GET_POST),
             (SESSIONS_ROOT + "/{id}", GET_POST_DELETE),
             (SESSIONS_ROOT + "/{id}/archive", POST),
             (SESSIONS_ROOT + "/{id}/events", GET_POST),
             (SESSIONS_ROOT + "/{id}/events/stream", GET), json_post=True),
    *_routes(STORAGE, "cc_session",
             (CODE_SESSIONS_ROOT, GET_POST),
             (CODE_SESSIONS_ROOT + "/{id}", GET_POST_DELETE),
             (CODE_SESSIONS_ROOT + "/{id}/events", GET_POST), json_post=True),
    *_routes(STORAGE, None, (FEEDBACK_ROOT, POST)),
)
STORAGE_ROOTS = (SESSIONS_ROOT, CODE_SESSIONS_ROOT, FEEDBACK_ROOT)


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    resource_id: str | None = None     # the `{id}` segment, percent-decoded (owner lookups)


class Router:
    """Matches a canonical path against `TABLE`. Claude Code's server-storage routes are served
    only under the roots the catalog lists (`claude_code.server_storage_paths`)."""

    def __init__(self, catalog: Catalog) -> None:
        served = set(catalog.claude_code.server_storage_paths)
        routes = [route for route in TABLE
                  if route.name != STORAGE or _root_of(route.pattern) in served]
        self.routes = tuple(routes)
        self._exact = {r.pattern: Match(r) for r in routes if not PLACEHOLDERS & set(r.segments)}
        self._by_length: dict[int, list[tuple[Route, tuple[str, ...]]]] = {}
        for route in routes:
            if PLACEHOLDERS & set(route.segments):
                self._by_length.setdefault(len(route.segments), []).append(
                    (route, route.segments))

    def match(self, path: str) -> Match | None:
        found = self._exact.get(path)
        if found is not None:
            return found
        segments = path[1:].split("/")
        for route, pattern in self._by_length.get(len(segments), ()):
            named: str | None = None
            for want, have in zip(pattern, segments, strict=True):
                if want in PLACEHOLDERS:
                    if not have:
                        break
                    if want == "{id}":
                        named = have
                elif want != have:
                    break
            else:
                if named is None:
                    return Match(route)
                try:
                    return Match(route, resource_id(named))
                except UnicodeDecodeError:      # not a canonical path: no route
                    return None
        return None


def _root_of(pattern: str) -> str:
    return next(root for root in STORAGE_ROOTS if pattern.startswith(root))
