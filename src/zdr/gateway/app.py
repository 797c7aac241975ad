"""The gateway's ASGI app: authenticate, decide, then refuse or relay (docs/DESIGN.md §4).

Raw ASGI on purpose: the relay routes are the hot path and every framework layer costs throughput
(docs/DESIGN.md §7). Every request's path is first made canonical or refused
(`zdr.gateway.paths`), before routing and before the fallback: the router, the policy, the
ownership checks and the upstream all see that one path. Paths the gateway does not serve go to
`fallback` (the control plane) when one is given, else get a 404 in the API's error format.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from zdr.errors import (
    STORE_DOWN,
    AuthenticationFailed,
    HeadersTooLarge,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RequestTooLarge,
    StoreUnavailable,
    ZdrError,
)
from zdr.gateway.asgi import ASGIApp, Receive, Scope, Send
from zdr.gateway.auth import PrincipalCache, presented_key
from zdr.gateway.body import read_json_object
from zdr.gateway.classify import View, view_for
from zdr.gateway.client import ClientChannel, WatchStarts
from zdr.gateway.collaborators import Limits, Outputs, PolicyInputs
from zdr.gateway.exchange import Exchange
from zdr.gateway.metrics_access import UNAUTHORIZED
from zdr.gateway.observe import MessageObserver
from zdr.gateway.ownership import OwnershipGuard
from zdr.gateway.paths import PathRefused, RequestTarget, request_target
from zdr.gateway.recorders import MetadataRecorder, RetainingRecorder, recorder_for
from zdr.gateway.relay import Relay
from zdr.gateway.responses import new_request_id, send_body, send_error, send_refusal
from zdr.gateway.routes import STORAGE, Match, Route, Router
from zdr.gateway.session_bodies import with_session_model
from zdr.observability import AccessLog, LoggerAccessLog
from zdr.outage import is_store_outage, logged_type, where
from zdr.policy import decide, extract_facts

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
NO_RETENTION = "none"
Hook = Callable[[], Awaitable[None]]


class GatewayApp:
    """`policy`: what decisions read; `outputs`: where exchanges go; `limits`: request bounds
    (`zdr.gateway.collaborators`). `relay` talks to the upstream; `fallback` answers the paths
    the gateway does not serve; `on_startup` / `on_shutdown` run in the ASGI lifespan."""

    def __init__(
        self,
        policy: PolicyInputs,
        outputs: Outputs,
        limits: Limits,
        relay: Relay,
        *,
        fallback: ASGIApp | None = None,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
    ) -> None:
        self.catalog = catalog = policy.catalog
        self.router = Router(catalog)
        self.principals = PrincipalCache(policy.directory, limits.key_cache_ttl)
        self.clock = policy.clock
        self.ownership = OwnershipGuard(policy.owners, catalog, relay)
        self.pseudonyms = policy.pseudonyms
        self.end_users = policy.end_users
        self.sink = outputs.sink
        self.safety = outputs.safety
        self.classify = outputs.classify
        self.metrics = outputs.metrics
        self.metrics_access = outputs.metrics_access
        self.log = outputs.logger
        self.access = AccessLog(outputs.log_writer) if outputs.log_writer is not None \
            else LoggerAccessLog(outputs.logger)
        self.tracer = outputs.tracer
        self.max_body_bytes = limits.max_body_bytes
        self.header_limits = limits.header_limits
        self.relay = relay
        self.watch_starts = WatchStarts()     # one timer for every exchange's disconnect watch
        self.fallback = fallback
        self._on_startup = tuple(on_startup)
        self._on_shutdown = tuple(on_shutdown)
        self.ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self.header_limits.exceeded(scope["headers"]):   # before routing and auth
                await self._unrouted(send, HeadersTooLarge(self.header_limits.message),
                                     outcome="bad_request")
                return
            target = request_target(scope)    # one canonical path, before routing and fallback
            if isinstance(target, PathRefused):
                await self._unrouted(send, InvalidRequest(target.message),
                                     outcome="bad_request")
                return
            matched = self.router.match(target.path)
            if matched is not None:
                metrics = self.metrics
                metrics.in_flight_count += 1
                try:
                    await self._serve(scope, receive, send, matched, target)
                finally:
                    metrics.in_flight_count -= 1
            elif target.path in OPS_PATHS:
                await self._ops(target.path, scope, send)
            elif self.fallback is not None:
                await self.fallback(scope, receive, send)
            else:
                await self._unrouted(send, NotFound("Not found."))
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif self.fallback is not None:
            if isinstance(request_target(scope), PathRefused):   # a WebSocket: not accepted
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.fallback(scope, receive, send)

    # ------------------------------------------------------------------ the hot path
    async def _serve(self, scope: Scope, receive: Receive, send: Send, matched: Match,
                     target: RequestTarget) -> None:
        route = matched.route
        method: str = scope["method"]
        if method not in route.methods:
            await self._unrouted(send, MethodNotAllowed(
                f"Method {method[:10]} is not allowed on this route."))
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        key = presented_key(headers.get("x-api-key"), headers.get("authorization"))
        try:
            principal = await self.principals.principal(key) if key else None
        except Exception as error:  # noqa: BLE001 - keys cannot be checked: fail closed
            await self._store_down(send, error, route.name)
            return
        if principal is None:
            await self._unrouted(send, AuthenticationFailed("invalid x-api-key"),
                                 surface=route.name, outcome="unauthenticated")
            return
        body = b""
        parsed: dict[str, Any] | None = None
        problem: InvalidRequest | None = None
        try:
            body = await self._read_body(headers, receive)
            parsed = _parse(body, route, method)
        except InvalidRequest as error:     # too large, empty, not one JSON object
            problem = error
        path = target.path
        facts = extract_facts(method, path, headers, parsed, principal.arrangements.key_kind,
                              self.catalog)
        if route.name == STORAGE and parsed is not None:   # a model chosen in a session body
            facts = with_session_model(facts, parsed, self.catalog)
        now = self.clock.now()
        decision = decide(facts, principal.arrangements, self.catalog, now)
        ex = Exchange("", principal, decision, now, recorded=self.pseudonyms.recorded(
            decision, principal.arrangements, now, principal.org_id))
        ex.end_user = self.end_users.of(parsed)
        view = view_for(decision, route, method, headers, body, parsed,
                        readable=problem is None) if self.classify else None
        if problem is not None or decision.error is not None:
            if problem is not None:
                ex.status, ex.outcome = problem.status, "bad_request"
                error_type, message = problem.error_type, problem.message
            else:
                assert decision.error is not None
                ex.status, ex.outcome = decision.error.status, "rejected"
                error_type, message = decision.error.type, decision.error.message
            ex.request_id = new_request_id()
            ex.mark_first_byte()
            await send_error(send, ex.status, error_type, message, ex.request_id,
                             decision.retention_label)
            await self._finish(ex, MetadataRecorder(self.sink.record_metadata), None, view)
            return
        if route.body_ids and not route.owned and await self.ownership.refuse_foreign_references(
                ex, parsed, send, files="files" in decision.features):
            await self._finish(ex, MetadataRecorder(self.sink.record_metadata), None, view)
            return      # a file, container or skill of another org: zdr.gateway.ownership
        recorder = recorder_for(decision, self.sink)
        observer = None
        if route.content:
            assemble = isinstance(recorder, RetainingRecorder) or (
                self.classify and decision.keep["classifier_result"].kept)
            observer = MessageObserver(assemble=assemble)
        ex.stream = bool(parsed and parsed.get("stream") is True)
        channel = ClientChannel(receive, send)
        channel.watch(starts=self.watch_starts)
        relay_send = view.tap(channel.send) if view is not None else channel.send
        try:
            if route.owned:     # one org's ids (zdr.gateway.ownership)
                await self.ownership.run(ex, route, matched.resource_id, method, target.target,
                                         headers, body, relay_send, recorder, parsed)
            else:
                await self.relay.run(ex, method, target.target, headers, body, relay_send,
                                     recorder, observer, self._settler(ex, observer))
        except asyncio.CancelledError:
            if not channel.consume_cancel():
                raise
            ex.outcome = "client_disconnected"
            ex.status = ex.status or 499
        except Exception as error:  # noqa: BLE001 - answered in the API's format, by type only
            ex.outcome = "upstream_error"
            ex.request_id = ex.request_id or new_request_id()
            self.log.error("relay_failed", request_id=ex.request_id,
                           error_type=type(error).__name__)
            if ex.ttfb is None:
                ex.status = 500
                await send_error(channel.send, 500, "api_error", "The gateway failed to relay "
                                 "this request.", ex.request_id, decision.retention_label)
            elif not channel.complete:
                await channel.send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            channel.stop()
        await self._finish(ex, recorder, observer, view)

    def _settler(self, ex: Exchange, observer: MessageObserver | None) -> Hook | None:
        """What runs before a Messages response completes: record the container it names."""
        if observer is None:
            return None

        async def settle() -> None:
            if observer.container_id is None:
                return
            try:
                await self.ownership.record_container(ex, observer.container_id)
            except Exception:  # noqa: BLE001 - the id stays unowned: later uses are a 404
                self.log.error("container_record_failed", request_id=ex.request_id,
                               org_id=ex.principal.org_id)

        return settle

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        limit = self.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"Request exceeds the maximum allowed number of bytes "
                                  f"({limit}).")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise RequestTooLarge(f"Request exceeds the maximum allowed number of "
                                          f"bytes ({limit}).")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _finish(
        self,
        ex: Exchange,
        recorder: MetadataRecorder,
        observer: MessageObserver | None,
        view: View | None,
    ) -> None:
        if not ex.request_id:   # the client left before the upstream answered
            ex.request_id = new_request_id()
        meta = ex.metadata()
        decision = ex.decision
        try:
            await recorder.finish(meta)
        except Exception as error:  # noqa: BLE001 - a store failure must not crash the request
            # metadata, or the part of an abandoned stream a retaining org keeps
            self.log.error("exchange_write_failed", request_id=meta.exchange_id,
                           org_id=meta.org_id, surface=decision.surface,
                           error_type=type(error).__name__)
        if view is not None:    # whatever the outcome: what was seen (zdr.gateway.classify)
            try:
                await view.submit(self.safety, meta, observer)
            except Exception:  # noqa: BLE001 - the classifier is off the response path
                self.log.error("safety_submit_failed", request_id=meta.exchange_id,
                               org_id=meta.org_id, surface=decision.surface)
        seconds = ex.elapsed()
        self.metrics.observe(decision.surface, ex.outcome, decision.retention_label, ex.status,
                             seconds, ex.ttfb)
        if self.tracer is not None:
            self.tracer.record(ex, meta)
        self.access.exchange(
            request_id=meta.exchange_id, org_id=meta.org_id,
            workspace_id=meta.workspace_id, key_prefix=ex.principal.key_prefix,
            surface=decision.surface, status=ex.status, outcome=ex.outcome,
            retention=decision.retention_label, zdr=decision.zdr,
            model_class=decision.model_class, stream=ex.stream, input_tokens=meta.input_tokens,
            output_tokens=meta.output_tokens, duration_ms=meta.duration_ms, ttfb_ms=meta.ttfb_ms,
        )

    # ------------------------------------------------------------------ everything else
    async def _unrouted(self, send: Send, error: ZdrError, *, surface: str = "unknown",
                        outcome: str = "not_found") -> None:
        request_id = new_request_id()
        # counted and logged before answering: once the client has its answer, both exist
        self.metrics.observe(surface, outcome, NO_RETENTION, error.status, 0.0, None)
        self.metrics.flush()        # not left to the tally (refusals are not the hot path)
        self.log.info("refused", request_id=request_id, surface=surface, status=error.status,
                      outcome=outcome)
        await send_refusal(send, error, request_id, NO_RETENTION)

    async def _store_down(self, send: Send, error: Exception, surface: str) -> None:
        self.log.error("store_unavailable" if is_store_outage(error) else "auth_failed",
                       surface=surface, error_type=logged_type(error), location=where(error))
        await self._unrouted(send, StoreUnavailable(STORE_DOWN), surface=surface,
                             outcome="store_unavailable")

    async def _ops(self, path: str, scope: Scope, send: Send) -> None:
        if path == "/metrics":
            status = self.metrics_access.status(_header(scope, b"authorization"))
            if status == 404:
                await self._unrouted(send, NotFound("Not found."))
            elif status == 401:
                await self._unrouted(send, AuthenticationFailed(UNAUTHORIZED),
                                     outcome="unauthenticated")
            else:
                await send_body(send, 200, self.metrics.render(), [],
                                b"text/plain; version=0.0.4; charset=utf-8")
        elif path == "/readyz" and not self.ready:
            await send_body(send, 503, orjson.dumps({"status": "starting"}), [])
        else:
            await send_body(send, 200, orjson.dumps({"status": "ok"}), [])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.relay.start()
                    for hook in self._on_startup:
                        await hook()
                except Exception as error:  # noqa: BLE001 - reported to the server, by type
                    await send({"type": "lifespan.startup.failed",
                                "message": type(error).__name__})
                    return
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                with contextlib.suppress(Exception):
                    await self.relay.close()
                for hook in self._on_shutdown:
                    with contextlib.suppress(Exception):
                        await hook()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _parse(body: bytes, route: Route, method: str) -> dict[str, Any] | None:
    if method != "POST" or not route.json_body:
        return None
    if not body:
        if route.content:
            raise InvalidRequest("The request body is empty.")
        return None
    return read_json_object(body)     # one reading: duplicate keys refused (gateway.body)
