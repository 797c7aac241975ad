"""Org isolation for upstream files and message batches.

The gateway relays every org's `/v1/files…` and `/v1/messages/batches…` under its one provider
key, so the provider cannot tell orgs apart: without this module org B's key could fetch, cancel
or delete org A's file or batch by id. Here, through `zdr.ports.ResourceOwners`:

- a create (`POST /v1/files`, `POST /v1/messages/batches`) is answered only after the id in the
  upstream's JSON answer is recorded for the caller's org (with the catalog's artifact period:
  batches 29 days, files until deleted); if it cannot be recorded the client gets an error, never
  an id it could not use;
- any request naming an id (`/v1/files/{id}…`, `/v1/messages/batches/{id}…`: read, content,
  results, cancel, delete) is relayed only when the caller's org owns the id; a foreign, unknown
  or expired id gets `404 not_found_error` without contacting the upstream;
- a list (`GET /v1/files`, `GET /v1/messages/batches`) keeps only the caller's org's ids in the
  upstream's `data`, and its `first_id` / `last_id` cursors name only those (a page may hold fewer
  items than `limit`);
- a successful delete forgets the id;
- a file referenced by id inside a request (`file_id` in a Messages / token-count body, or in a
  new batch's requests: document sources, `container_upload`) must be the caller's org's too,
  else `404 not_found_error` before the upstream is contacted (the provider would otherwise read
  org A's file into org B's conversation). The Messages path calls it only when the decision
  lists the `files` feature.

The hot `/v1/messages` path comes here only for requests that reference files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from zdr.catalog.schema import Catalog
from zdr.gateway.asgi import Message, Send
from zdr.gateway.exchange import Exchange
from zdr.gateway.recorders import MetadataRecorder
from zdr.gateway.relay import Relay
from zdr.gateway.responses import Headers, new_request_id, send_body, send_error
from zdr.outage import STORE_DOWN, log_failure
from zdr.ports import ResourceOwners, UpstreamResource

ROOTS = {"files": ("file", "/v1/files"), "batches": ("batch", "/v1/messages/batches")}
SURFACE_OF = {"file": "files", "batch": "batches"}
MAX_CAPTURE = 8 * 1024 * 1024      # a created object or one list page: small JSON
NOT_FOUND = {"file": "File not found.", "batch": "Message batch not found."}
UNREADABLE = "The upstream's answer could not be attributed to this organization."
UNRECORDED = "The gateway could not record this organization's ownership of the new {what}."


@dataclass(frozen=True, slots=True)
class Target:
    kind: str                    # "file" | "batch"
    resource_id: str | None      # None: the collection itself (create, list)


def target_of(route_name: str, path: str) -> Target:
    """What a files/batches path names: the collection, or one id (with any suffix after it)."""
    kind, root = ROOTS[route_name]
    path = path.rstrip("/")
    if path == root:
        return Target(kind, None)
    return Target(kind, path[len(root) + 1:].split("/", 1)[0])


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
    """Answers the files and batches routes for `GatewayApp`, through `relay`."""

    def __init__(self, owners: ResourceOwners, catalog: Catalog, relay: Relay) -> None:
        self.owners = owners
        self.relay = relay
        self._periods: dict[str, timedelta | None] = {}
        for kind, surface in SURFACE_OF.items():
            spec = catalog.surfaces[surface]
            days = None if spec.artifact_until_deleted else spec.artifact_days
            self._periods[kind] = None if days is None else timedelta(days=days)

    def expires_at(self, kind: str, created_at: datetime) -> datetime | None:
        period = self._periods[kind]
        return None if period is None else created_at + period

    async def refuse_foreign_files(self, ex: Exchange, body: dict[str, Any] | None,
                                   send: Send) -> bool:
        """Answer 404 (and return True) when `body` references a file the caller's org does not
        own; False when every referenced file is its own (or none is referenced)."""
        wanted = file_references(body)
        if not wanted:
            return False
        try:
            mine = await self.owners.owned(ex.principal.org_id, "file", sorted(wanted),
                                           ex.started_at)
        except Exception as error:  # noqa: BLE001 - ownership cannot be checked: fail closed
            await self._store_down(ex, send, error)
            return True
        if wanted <= mine:
            return False
        await self._refuse(ex, send, 404, "not_found_error", NOT_FOUND["file"], "not_found")
        return True

    async def run(
        self,
        ex: Exchange,
        route_name: str,
        method: str,
        path: str,
        target_url: str,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        recorder: MetadataRecorder,
        parsed: dict[str, Any] | None = None,
    ) -> None:
        """Relay one files/batches request for `ex.principal`'s org, or refuse it."""
        target = target_of(route_name, path)
        org_id = ex.principal.org_id
        if target.resource_id is not None:
            try:
                owner = await self.owners.owner_of(target.kind, target.resource_id,
                                                   ex.started_at)
            except Exception as error:  # noqa: BLE001 - ownership cannot be checked: fail closed
                await self._store_down(ex, send, error)
                return
            if owner != org_id:
                await self._refuse(ex, send, 404, "not_found_error", NOT_FOUND[target.kind],
                                   "not_found")
                return
            await self.relay.run(ex, method, target_url, headers, body, send, recorder, None)
            if method == "DELETE" and 200 <= ex.status < 300:
                try:
                    await self.owners.forget(target.kind, target.resource_id)
                except Exception as error:  # noqa: BLE001 - answered already; the id is gone
                    log_failure(error, target.kind)     # upstream, so it can only 404 there
            return
        if method not in ("POST", "GET"):     # HEAD of a collection: no body, nothing to filter
            await self.relay.run(ex, method, target_url, headers, body, send, recorder, None)
            return
        if method == "POST" and target.kind == "batch" \
                and await self.refuse_foreign_files(ex, parsed, send):
            return
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
            await self._created(ex, target.kind, capture, send)
        else:
            await self._listed(ex, target.kind, capture, send)

    async def _created(self, ex: Exchange, kind: str, capture: CapturedResponse,
                       send: Send) -> None:
        value = capture.json()
        resource_id = value.get("id") if isinstance(value, dict) else None
        if not isinstance(resource_id, str) or not resource_id or len(resource_id) > 200:
            await self._refuse(ex, send, 502, "api_error", UNREADABLE, "upstream_error")
            return
        principal = ex.principal
        resource = UpstreamResource(
            kind=kind, resource_id=resource_id, org_id=principal.org_id,
            workspace_id=principal.workspace_id or None, exchange_id=ex.request_id,
            created_at=ex.started_at, expires_at=self.expires_at(kind, ex.started_at),
        )
        try:
            await self.owners.record(resource)
        except Exception:  # noqa: BLE001 - fail closed: the client never gets an unowned id
            await self._refuse(ex, send, 503, "api_error",
                               UNRECORDED.format(what="file" if kind == "file" else "batch"),
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
        value = {**value, "data": kept,
                 "first_id": kept[0]["id"] if kept else None,
                 "last_id": kept[-1]["id"] if kept else None}
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
