"""Org isolation for the upstream objects the gateway relays: every id belongs to one org.

The gateway relays every org's files, message batches, Agent Skills, Claude Code sessions and
code-execution containers under its one provider key, so the provider cannot tell orgs apart:
without this module org B's key could fetch, cancel or delete org A's objects by id. Here,
through `zdr.ports.ResourceOwners` (kinds: `file`, `batch`, `skill`, `session` for
`/v1/sessions…`, `cc_session` for `/v1/code/sessions…`, `container`):

- a create (`POST` on a collection route of `zdr.gateway.routes`) is answered only after the id
  in the upstream's JSON answer is recorded for the caller's org (with the catalog's artifact
  period: batches 29 days, sessions and containers 30, files and skills until deleted); if it
  cannot be recorded the client gets an error, never an id it could not use;
- any request naming an id (a route with `{id}`: read, content, results, cancel, versions,
  events, archive, delete) is relayed only when the caller's org owns the id; a foreign, unknown
  or expired id gets `404 not_found_error` without contacting the upstream;
- a list whose `after_id` / `before_id` cursor names an id the caller's org does not own is a
  `404` (the page around another org's id would tell when it was made);
- a list (`GET` on a collection) keeps only the caller's org's ids in the upstream's `data`, and
  its `first_id` / `last_id` cursors name only those (a page may hold fewer items than `limit`);
- a successful delete of the object itself (not of a version under it) forgets the id;
- ids referenced inside a request must be the caller's org's too, else `404 not_found_error`
  before the upstream is contacted: `file_id`s (in a Messages / token-count body, or in a new
  batch's requests: document sources, `container_upload`), the `container` to run in, and custom
  `skill_id`s loaded into it (`zdr.gateway.references`). The provider would otherwise read org
  A's file into org B's conversation, or run org B's code in org A's container;
- a container is created by a Messages response (`container.id`, seen by
  `zdr.gateway.observe`): it is recorded for the org before the response's last chunk is sent.

The hot `/v1/messages` path comes here only for requests that reference files or a container.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson

from zdr.catalog.schema import Catalog
from zdr.gateway.asgi import Message, Send
from zdr.gateway.exchange import Exchange
from zdr.gateway.recorders import MetadataRecorder
from zdr.gateway.references import container_references
from zdr.gateway.relay import Relay
from zdr.gateway.responses import Headers, new_request_id, send_body, send_error
from zdr.gateway.routes import Route
from zdr.gateway.session_bodies import session_file_ids
from zdr.outage import STORE_DOWN, log_failure
from zdr.ports import ResourceOwners, UpstreamResource

MAX_CAPTURE = 8 * 1024 * 1024      # a created object or one list page: small JSON
MAX_ID = 200                       # as long as `upstream_resources.resource_id` holds


@dataclass(frozen=True, slots=True)
class Kind:
    name: str                      # as stored in `upstream_resources.kind` (10 characters)
    what: str                      # in messages: "the new {what}"
    not_found: str
    period: tuple[str, str] | None  # catalog entry whose artifact period it keeps (None: none)


KINDS = {kind.name: kind for kind in (
    Kind("file", "file", "File not found.", ("surfaces", "files")),
    Kind("batch", "batch", "Message batch not found.", ("surfaces", "batches")),
    Kind("skill", "skill", "Skill not found.", None),
    Kind("session", "session", "Session not found.", ("features", "claude_code_remote_session")),
    Kind("cc_session", "session", "Session not found.",
         ("features", "claude_code_remote_session")),
    Kind("container", "container", "Container not found.", ("features", "code_execution")),
)}
SESSION_KINDS = frozenset({"session", "cc_session"})
UNREADABLE = "The upstream's answer could not be attributed to this organization."
UNRECORDED = "The gateway could not record this organization's ownership of the new {what}."


MAX_DEPTH = 64                     # as deep as zdr.policy.extract walks content blocks
SKIPPED_BLOCKS = frozenset({"text", "tool_use", "thinking"})   # content only, never a reference


def file_references(body: dict[str, Any] | None) -> set[str]:
    """Every file id a Messages body (or each request of a new batch) references, found where
    `zdr.policy.extract` finds the `files` feature: a block's `file_id`, its source's `file_id`,
    and nested content (tool results, documents)."""
    found: set[str] = set()
    if not isinstance(body, dict):
        return found

    def blocks(value: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            found.add("")               # too deep to be sure: an id nobody owns refuses it
            return
        items = (value,) if isinstance(value, dict) else value if isinstance(value, list) else ()
        for block in items:
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("file_id"), str):
                found.add(block["file_id"])
            if block.get("type") in SKIPPED_BLOCKS:
                continue
            source = block.get("source")
            if isinstance(source, dict):
                if isinstance(source.get("file_id"), str):
                    found.add(source["file_id"])
                blocks(source.get("content"), depth + 1)
            blocks(block.get("content"), depth + 1)

    def message_body(params: Any) -> None:
        if not isinstance(params, dict):
            return
        blocks(params.get("system"), 0)
        messages = params.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if isinstance(message, dict):
                blocks(message.get("content"), 0)

    requests = body.get("requests")
    if isinstance(requests, list):
        for request in requests:
            if isinstance(request, dict):
                message_body(request.get("params"))
    else:
        message_body(body)
    return found


class CapturedResponse:
    """An ASGI `send` that keeps the relay's answer in memory, so it is read before it is sent."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: Headers = []
        self.body = bytearray()
        self.complete = False
        self.overflow = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [(k, v) for k, v in message.get("headers", [])
                            if k.lower() != b"content-length"]
        elif message["type"] == "http.response.body":
            if len(self.body) + len(message.get("body", b"")) > MAX_CAPTURE:
                self.overflow = True
            else:
                self.body += message.get("body", b"")
            if not message.get("more_body", False):
                self.complete = True

    def json(self) -> Any:
        if not self.complete or self.overflow:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    async def replay(self, send: Send, body: bytes | None = None) -> None:
        content_type = next((v for k, v in self.headers if k.lower() == b"content-type"),
                            b"application/json")
        rest = [(k, v) for k, v in self.headers if k.lower() != b"content-type"]
        await send_body(send, self.status or 502, bytes(self.body) if body is None else body,
                        rest, content_type)


class OwnershipGuard:
    """Answers the owned routes for `GatewayApp` (through `relay`), checks the ids a request
    body references, and records the containers Messages responses create."""

    def __init__(self, owners: ResourceOwners, catalog: Catalog, relay: Relay) -> None:
        self.owners = owners
        self.relay = relay
        self._periods: dict[str, timedelta | None] = {
            kind.name: _period(catalog, kind) for kind in KINDS.values()}

    def expires_at(self, kind: str, created_at: datetime) -> datetime | None:
        period = self._periods[kind]
        return None if period is None else created_at + period

    async def refuse_foreign_references(self, ex: Exchange, body: dict[str, Any] | None,
                                        send: Send, *, files: bool = True,
                                        session: bool = False) -> bool:
        """Answer 404 (and return True) when `body` references a file, container or custom
        skill the caller's org does not own; False when every one is its own (or none is
        referenced). `files=False`: the policy found no file reference, so none is looked for;
        `session`: a session body, whose file ids are looked for at any depth."""
        if session:                     # any file_id in a session body (session_bodies)
            wanted = {"file": session_file_ids(body), "container": set(), "skill": set()}
            return await self._refuse_unowned(ex, wanted, send)
        if not files and (body is None or body.get("container") is None):
            return False                # the hot path: nothing to look up
        wanted = {"file": file_references(body) if files else set()}
        named = container_references(body)
        wanted["container"], wanted["skill"] = named.containers, named.skills
        return await self._refuse_unowned(ex, wanted, send)

    async def _refuse_unowned(self, ex: Exchange, wanted: dict[str, set[str]],
                              send: Send) -> bool:
        for kind, ids in wanted.items():
            if not ids:
                continue
            try:
                mine = await self.owners.owned(ex.principal.org_id, kind, sorted(ids),
                                               ex.started_at)
            except Exception as error:  # noqa: BLE001 - ownership cannot be checked: fail closed
                await self._store_down(ex, send, error)
                return True
            if not ids <= mine:
                await self._refuse(ex, send, 404, "not_found_error", KINDS[kind].not_found,
                                   "not_found")
                return True
        return False

    async def record_container(self, ex: Exchange, container_id: str | None) -> None:
        """Record the container a Messages response names for the caller's org (an id the org
        already owns, or none, is left alone). May raise: the caller logs it, and the id stays
        unowned, so every later use of it is a 404 (fail closed)."""
        if not isinstance(container_id, str) or not container_id or len(container_id) > MAX_ID:
            return
        org_id = ex.principal.org_id
        if await self.owners.owner_of("container", container_id, ex.started_at) == org_id:
            return
        await self.owners.record(self._resource(ex, "container", container_id))

    async def run(
        self,
        ex: Exchange,
        route: Route,
        resource_id: str | None,
        method: str,
        target_url: str,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        recorder: MetadataRecorder,
        parsed: dict[str, Any] | None = None,
    ) -> None:
        """Relay one request on an owned route for `ex.principal`'s org, or refuse it."""
        assert route.owner is not None
        kind = KINDS[route.owner]
        if resource_id is not None:
            try:
                owner = await self.owners.owner_of(kind.name, resource_id, ex.started_at)
            except Exception as error:  # noqa: BLE001 - ownership cannot be checked: fail closed
                await self._store_down(ex, send, error)
                return
            if owner != ex.principal.org_id:
                await self._refuse(ex, send, 404, "not_found_error", kind.not_found,
                                   "not_found")
                return
            if method == "POST" and route.body_ids and await self.refuse_foreign_references(
                    ex, parsed, send, session=kind.name in SESSION_KINDS):
                return
            await self.relay.run(ex, method, target_url, headers, body, send, recorder, None)
            if method == "DELETE" and route.pattern.endswith("{id}") \
                    and 200 <= ex.status < 300:
                try:
                    await self.owners.forget(kind.name, resource_id)
                except Exception as error:  # noqa: BLE001 - answered already; the id is gone
                    log_failure(error, kind.name)       # upstream, so it can only 404 there
            return
        if method not in ("POST", "GET"):     # a collection only lists and creates
            await self._refuse(ex, send, 405, "invalid_request_error",
                               "This method is not allowed on this route.", "not_found")
            return
        if method == "POST" and route.body_ids and await self.refuse_foreign_references(
                ex, parsed, send, session=kind.name in SESSION_KINDS):
            return
        cursors = list_cursors(target_url)
        if method == "GET" and cursors and not cursors <= await self.owners.owned(
                ex.principal.org_id, kind.name, sorted(cursors), ex.started_at):
            await self._refuse(ex, send, 404, "not_found_error", kind.not_found, "not_found")
            return          # a page relative to another org's id would tell where it stands
        capture = CapturedResponse()
        try:
            await self.relay.run(ex, method, target_url, headers, body, capture.send, recorder,
                                 None)
        except Exception:  # noqa: BLE001 - nothing reached the client yet: answer in API format
            await self._refuse(ex, send, 502, "api_error", UNREADABLE, "upstream_error")
            return
        if capture.status is None or capture.status >= 300:    # errors pass through as they are
            await capture.replay(send)
            return
        if method == "POST":
            await self._created(ex, kind, capture, send)
        else:
            await self._listed(ex, kind.name, capture, send)

    def _resource(self, ex: Exchange, kind: str, resource_id: str) -> UpstreamResource:
        principal = ex.principal
        return UpstreamResource(
            kind=kind, resource_id=resource_id, org_id=principal.org_id,
            workspace_id=principal.workspace_id or None, exchange_id=ex.request_id,
            created_at=ex.started_at, expires_at=self.expires_at(kind, ex.started_at),
        )

    async def _created(self, ex: Exchange, kind: Kind, capture: CapturedResponse,
                       send: Send) -> None:
        resource_id = created_id(capture.json())
        if resource_id is None:
            await self._refuse(ex, send, 502, "api_error", UNREADABLE, "upstream_error")
            return
        try:
            await self.owners.record(self._resource(ex, kind.name, resource_id))
        except Exception:  # noqa: BLE001 - fail closed: the client never gets an unowned id
            await self._refuse(ex, send, 503, "api_error", UNRECORDED.format(what=kind.what),
                               "store_unavailable")
            return
        await capture.replay(send)

    async def _listed(self, ex: Exchange, kind: str, capture: CapturedResponse,
                      send: Send) -> None:
        value = capture.json()
        items = value.get("data") if isinstance(value, dict) else None
        if not isinstance(items, list):
            await self._refuse(ex, send, 502, "api_error", UNREADABLE, "upstream_error")
            return
        ids = [item["id"] for item in items
               if isinstance(item, dict) and isinstance(item.get("id"), str)]
        try:
            mine = await self.owners.owned(ex.principal.org_id, kind, ids, ex.started_at) \
                if ids else set()
        except Exception as error:  # noqa: BLE001 - the list cannot be filtered: fail closed
            await self._store_down(ex, send, error)
            return
        kept = [item for item in items if isinstance(item, dict) and item.get("id") in mine]
        assert isinstance(value, dict)
        value = {**value, "data": kept}
        for cursor, item in (("first_id", kept[0] if kept else None),
                             ("last_id", kept[-1] if kept else None)):
            if cursor in value:             # cursors name only the caller's ids
                value[cursor] = item["id"] if item is not None else None
        await capture.replay(send, orjson.dumps(value))

    async def _store_down(self, ex: Exchange, send: Send, error: Exception) -> None:
        log_failure(error, ex.decision.surface)
        await self._refuse(ex, send, 503, "api_error", STORE_DOWN, "store_unavailable")

    async def _refuse(self, ex: Exchange, send: Send, status: int, error_type: str,
                      message: str, outcome: str) -> None:
        ex.request_id = ex.request_id or new_request_id()
        ex.status, ex.outcome = status, outcome
        ex.mark_first_byte()
        await send_error(send, status, error_type, message, ex.request_id,
                         ex.decision.retention_label)


def created_id(value: Any) -> str | None:
    """The id of a created object: `id`, or `session.id` (Claude Code's sessions answer so)."""
    if isinstance(value, dict) and "id" not in value and isinstance(value.get("session"), dict):
        value = value["session"]
    resource_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(resource_id, str) or not resource_id or len(resource_id) > MAX_ID:
        return None
    return resource_id


def _period(catalog: Catalog, kind: Kind) -> timedelta | None:
    """How long the catalog says `kind`'s artifact is kept (None: until deleted, or unlisted)."""
    if kind.period is None:
        return None
    table, name = kind.period
    spec = (catalog.surfaces if table == "surfaces" else catalog.features).get(name)
    if spec is None or spec.artifact_until_deleted or spec.artifact_days is None:
        return None
    return timedelta(days=spec.artifact_days)


CURSOR_PARAMS = frozenset({"after_id", "before_id"})


def list_cursors(target_url: str) -> set[str]:
    """The ids a list request pages from (`after_id` / `before_id`, every repeat, decoded as the
    upstream decodes them): each must be the caller's org's."""
    _, _, query = target_url.partition("?")
    if not query:
        return set()
    return {value for name, value in parse_qsl(query, keep_blank_values=True)
            if name in CURSOR_PARAMS}
