"""Which paths the gateway serves, with which methods. Anything else is a 404 (or 405)."""

from __future__ import annotations

from dataclasses import dataclass

from zdr.catalog.schema import Catalog

READ = frozenset({"GET", "HEAD"})
WRITE = frozenset({"GET", "HEAD", "POST", "DELETE"})
ANY = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Route:
    name: str                 # a closed set, safe as a metrics label
    methods: frozenset[str]
    json_body: bool           # a POST body must be a JSON object
    content: bool             # the response carries message content (observe it)
    owned: bool = False       # ids belong to one org: zdr.gateway.ownership answers it


MESSAGES = Route("messages", frozenset({"POST"}), json_body=True, content=True)
COUNT_TOKENS = Route("count_tokens", frozenset({"POST"}), json_body=True, content=True)
MODELS = Route("models", READ, json_body=False, content=False)
BATCHES = Route("batches", WRITE, json_body=True, content=False, owned=True)
FILES = Route("files", WRITE, json_body=False, content=False, owned=True)
CLAUDE_CODE_STORAGE = Route("claude_code_storage", ANY, json_body=False, content=False)

EXACT = {
    "/v1/messages": MESSAGES,
    "/v1/messages/count_tokens": COUNT_TOKENS,
    "/v1/models": MODELS,
    "/v1/messages/batches": BATCHES,
    "/v1/files": FILES,
}
PREFIXES = (("/v1/messages/batches/", BATCHES), ("/v1/models/", MODELS), ("/v1/files/", FILES))


class Router:
    def __init__(self, catalog: Catalog) -> None:
        self._storage = tuple(catalog.claude_code.server_storage_paths)

    def match(self, path: str) -> Route | None:
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        route = EXACT.get(path)
        if route is not None:
            return route
        for prefix, candidate in PREFIXES:
            if path.startswith(prefix):
                return candidate
        for prefix in self._storage:
            if path == prefix or path.startswith(prefix + "/"):
                return CLAUDE_CODE_STORAGE
        return None
