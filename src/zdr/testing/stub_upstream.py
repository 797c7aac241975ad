"""A stand-in for the provider's Messages API, for offline use, tests and benchmarks.

Faithful to the wire format: message objects, the full SSE event sequence (`message_start`,
`content_block_start`, `ping`, `content_block_delta`, `content_block_stop`, `message_delta`,
`message_stop`), usage, `tool_use` blocks when tools are given (Claude Code: only when asked, see
zdr.testing.stub_replies), token counting, models, and
minimal batches and files (remembered by id: created, listed, read, cancelled, deleted; each
created with a distinct id; an unknown id gets a 404; a batch's results answer each request as
`/v1/messages` would, a file's content is what was uploaded), skills, sessions and code-execution
containers (`zdr.testing.stub_resources`), and Claude Code's feedback (an id). Knobs (per
request, as headers, or as defaults from the command line):

    x-stub-latency-ms: N          wait before answering
    x-stub-chunks: N              number of text deltas in a stream
    x-stub-chunk-delay-ms: N      wait between stream events
    x-stub-output: TEXT           the reply text (default: an echo of the last user text)
    x-stub-fail-status: N         answer N with an API error body (529 overloaded_error, ...)
    x-stub-fail-echo: 1           make that error message quote the request (a leaky upstream)
    x-stub-fail-mid-stream: K     send an `error` event after K deltas
    x-stub-disconnect-mid-stream: K   drop the connection after K deltas
    x-stub-no-request-id: 1       omit the `request-id` header
    x-stub-set-cookie: VALUE      answer with `set-cookie: VALUE` (as the API's CDN does)
    x-stub-tool-call: NAME JSON   call tool NAME with input JSON (zdr.testing.stub_replies)

`GET /stub/stats` counts completed responses (for crash and disconnect tests). `GET
/stub/requests` lists every request it received, on any path, with its method and its target
exactly as it arrived (`raw_path`: path and query, before any decoding or dot-segment removal).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from zdr.testing.stub_replies import (
    DEFAULT_TOOL_INPUT,
    ToolCall,
    claude_code_reply,
    input_json_parts,
    is_claude_code,
    requested_tool_call,
)
from zdr.testing.stub_resources import StubResources

MODELS = (
    ("claude-sonnet-5", "Claude Sonnet 5", "2026-05-01T00:00:00Z"),
    ("claude-opus-5", "Claude Opus 5", "2026-05-01T00:00:00Z"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-mythos-5", "Claude Mythos 5", "2026-06-09T00:00:00Z"),
    ("claude-opus-5-5", "Claude Opus 5.5", "2026-10-01T00:00:00Z"),   # Claude Code's default
)
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
               529: "overloaded_error"}
ERROR_MESSAGES = {529: "Overloaded", 500: "Internal server error", 429: "Rate limited",
                  504: "Request timed out"}


@dataclass
class StubConfig:
    latency_ms: float = 0.0
    chunks: int = 4
    chunk_delay_ms: float = 0.0
    output: str | None = None


@dataclass
class StubStats:
    completed: int = 0
    streams_completed: int = 0
    errors: int = 0
    disconnects: int = 0
    requests: int = 0
    last_api_key: str = ""
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    seen_paths: list[str] = field(default_factory=list)
    received: list[tuple[str, str]] = field(default_factory=list)   # (method, raw target)


_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_stub{next(_ids):06d}{secrets.token_hex(6)}"


def _knob(request: web.Request, name: str, default: float) -> float:
    value = request.headers.get(f"x-stub-{name}")
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content
                        if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def reply_text(body: dict[str, Any], override: str | None) -> str:
    if override is not None:
        return override
    messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            text = _text_of(message.get("content"))
            if text:
                return f"You said: {text[:2000]}"
    return "Hello from the stand-in upstream."


def wants_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first custom tool, unless the last user turn already carries a tool result."""
    tools = body.get("tools") or []
    custom = [t for t in tools if isinstance(t, dict) and t.get("type") in (None, "custom")]
    if not custom:
        return None
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    content = last.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "none":
        return None
    return custom[0]


def plan_turn(headers: Mapping[str, str], body: dict[str, Any],
              override: str | None) -> tuple[str, ToolCall | None]:
    """This turn's reply text and tool call: Claude Code's way, or the plain client's."""
    requested = requested_tool_call(headers, body)
    if is_claude_code(headers, body):
        return (override if override is not None else claude_code_reply(body)), requested
    tool = wants_tool(body)
    default = ToolCall(str(tool.get("name")), dict(DEFAULT_TOOL_INPUT)) if tool else None
    return reply_text(body, override), requested or default


def count_tokens(body: dict[str, Any]) -> int:
    text = _text_of(body.get("system")) + " ".join(
        _text_of(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)
    )
    return max(1, len(text) // 4) + 3


def split(text: str, pieces: int) -> list[str]:
    pieces = max(1, min(pieces, max(1, len(text))))
    size = -(-len(text) // pieces)
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _page(store: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A list answer over every object created (newest first), as the API pages them."""
    data = list(reversed(store.values()))
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def error_body(status: int, message: str, request_id: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {
        "type": ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
        "message": message}, "request_id": request_id})


def _batch_results(raw: bytes, override: str | None) -> list[dict[str, Any]]:
    """A succeeded result per request of a new batch: the reply its params would get."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    requests = body.get("requests") if isinstance(body, dict) else None
    results = []
    for request in requests if isinstance(requests, list) else ():
        if not isinstance(request, dict):
            continue
        params: dict[str, Any] = request["params"] if isinstance(request.get("params"),
                                                                 dict) else {}
        text = reply_text(params, override)
        results.append({"custom_id": request.get("custom_id"), "result": {
            "type": "succeeded", "message": {
                "id": _id("msg"), "type": "message", "role": "assistant",
                "model": params.get("model", "claude-sonnet-5"),
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": count_tokens(params),
                          "output_tokens": max(1, len(text) // 4)}}}})
    return results


async def _uploaded(request: web.Request) -> tuple[str, bytes] | None:
    """The (media type, bytes) of a multipart upload's `file` part, if there is one."""
    if not request.content_type.startswith("multipart/"):
        return None
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "file":
                media_type = part.headers.get("content-type", "application/octet-stream")
                return media_type, bytes(await part.read())
    except (ValueError, AssertionError):
        return None
    return None


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown routes, wrong methods and unparseable bodies answered as the API answers them
    (`{"type": "error", ...}` with its `request-id`), not as aiohttp's plain-text pages."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        status, message = error.status, {404: "Not found", 405: "Method not allowed"}.get(
            error.status, error.reason)
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        status, message = 400, "There was an error parsing the body of your request."
    request_id = _id("req")
    return web.Response(status=status, body=error_body(status, message, request_id),
                        content_type="application/json", headers={"request-id": request_id})


class StubUpstream:
    def __init__(self, config: StubConfig | None = None) -> None:
        self.config = config or StubConfig()
        self.stats = StubStats()
        # Files and batches it created, by id (one provider account: it cannot tell orgs apart).
        self.created: dict[str, dict[str, dict[str, Any]]] = {"file": {}, "batch": {}}
        self.file_bytes: dict[str, bytes] = {}          # what each file was uploaded with
        self.batch_results: dict[str, list[dict[str, Any]]] = {}   # each batch's results
        self.resources = StubResources(self)

    new_id = staticmethod(_id)

    @web.middleware
    async def _log_received(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.raw_path.startswith("/stub/"):
            self.stats.received.append((request.method, request.raw_path))
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024,
                              middlewares=[self._log_received, api_errors])
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/v1/models/{model_id}", self.model)
        app.router.add_route("*", "/v1/messages/batches{tail:.*}", self.batches)
        app.router.add_route("*", "/v1/files{tail:.*}", self.files)
        app.router.add_post("/api/claude_cli_feedback", self.feedback)
        self.resources.add_routes(app)
        app.router.add_get("/stub/stats", self.stats_view)
        app.router.add_get("/stub/requests", self.requests_view)
        return app

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {} if request.headers.get("x-stub-no-request-id") else {"request-id": _id("req")}
        cookie = request.headers.get("x-stub-set-cookie")
        if cookie:
            headers["set-cookie"] = cookie
        return headers

    async def _prelude(self, request: web.Request) -> web.Response | None:
        self.stats.requests += 1
        self.stats.last_api_key = request.headers.get("x-api-key", "")
        self.stats.seen_headers = [*self.stats.seen_headers[-20:], dict(request.headers)]
        self.stats.seen_paths = [*self.stats.seen_paths[-20:], request.path_qs]
        latency = _knob(request, "latency-ms", self.config.latency_ms)
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        status = int(_knob(request, "fail-status", 0))
        if status >= 400:
            self.stats.errors += 1
            headers = self._headers(request)
            message = ERROR_MESSAGES.get(status, "Stand-in error")
            if request.headers.get("x-stub-fail-echo") and request.can_read_body:
                message += ": " + (await request.text())[:500]
            return web.Response(status=status, body=error_body(
                status, message, headers.get("request-id", "req_none")),
                content_type="application/json", headers=headers)
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        body = orjson.loads(await request.read())
        container, unknown = self.resources.container_for(body)
        if unknown is not None:
            return self._missing(request, unknown)
        model = body.get("model", "claude-sonnet-5")
        text, tool = plan_turn(request.headers, body,
                               request.headers.get("x-stub-output", self.config.output))
        usage_in = count_tokens(body)
        if body.get("stream"):
            return await self._stream(request, model, text, tool, usage_in, container)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if tool is not None:
            content.append({"type": "tool_use", "id": _id("toolu"), "name": tool.name,
                            "input": tool.input})
        message = {
            "id": _id("msg"), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": "tool_use" if tool else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": max(1, len(text) // 4),
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }
        if container is not None:
            message["container"] = container
        self.stats.completed += 1
        return web.Response(body=orjson.dumps(message), content_type="application/json",
                            headers=self._headers(request))

    async def _stream(self, request: web.Request, model: str, text: str,
                      tool: ToolCall | None, usage_in: int,
                      container: dict[str, Any] | None = None) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "content-type": "text/event-stream", "cache-control": "no-cache",
            **self._headers(request)})
        await response.prepare(request)
        delay = _knob(request, "chunk-delay-ms", self.config.chunk_delay_ms) / 1000
        fail_at = int(_knob(request, "fail-mid-stream", -1))
        drop_at = int(_knob(request, "disconnect-mid-stream", -1))
        pieces = split(text, int(_knob(request, "chunks", self.config.chunks)))
        await response.write(_event("message_start", {"type": "message_start", "message": {
            "id": _id("msg"), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": 1}}}))
        await response.write(_event("content_block_start", {
            "type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}))
        await response.write(_event("ping", {"type": "ping"}))
        for number, piece in enumerate(pieces):
            if number == fail_at:
                self.stats.errors += 1
                await response.write(_event("error", {"type": "error", "error": {
                    "type": "overloaded_error", "message": "Overloaded"}}))
                return response
            if number == drop_at:
                self.stats.disconnects += 1
                if request.transport is not None:
                    request.transport.abort()
                return response
            if delay:
                await asyncio.sleep(delay)
            await response.write(_event("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": piece}}))
        await response.write(_event("content_block_stop", {"type": "content_block_stop",
                                                           "index": 0}))
        stop_reason = "end_turn"
        if tool is not None:
            stop_reason = "tool_use"
            await response.write(_event("content_block_start", {
                "type": "content_block_start", "index": 1, "content_block": {
                    "type": "tool_use", "id": _id("toolu"), "name": tool.name,
                    "input": {}}}))
            for part in input_json_parts(tool):
                await response.write(_event("content_block_delta", {
                    "type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part}}))
            await response.write(_event("content_block_stop", {"type": "content_block_stop",
                                                               "index": 1}))
        delta: dict[str, Any] = {"stop_reason": stop_reason, "stop_sequence": None}
        if container is not None:
            delta["container"] = container
        await response.write(_event("message_delta", {
            "type": "message_delta", "delta": delta,
            "usage": {"output_tokens": max(1, len(text) // 4)}}))
        await response.write(_event("message_stop", {"type": "message_stop"}))
        await response.write_eof()
        self.stats.completed += 1
        self.stats.streams_completed += 1
        return response

    async def count_tokens(self, request: web.Request) -> web.Response:
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        body = orjson.loads(await request.read())
        self.stats.completed += 1
        return web.Response(body=orjson.dumps({"input_tokens": count_tokens(body)}),
                            content_type="application/json", headers=self._headers(request))

    @staticmethod
    def _model(model_id: str, name: str, created: str) -> dict[str, str]:
        return {"type": "model", "id": model_id, "display_name": name, "created_at": created}

    async def models(self, request: web.Request) -> web.Response:
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        data = [self._model(*m) for m in MODELS]
        self.stats.completed += 1
        return web.Response(body=orjson.dumps({
            "data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"],
        }), content_type="application/json", headers=self._headers(request))

    async def model(self, request: web.Request) -> web.Response:
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        model_id = request.match_info["model_id"]
        for m in MODELS:
            if m[0] == model_id:
                self.stats.completed += 1
                return web.Response(body=orjson.dumps(self._model(*m)),
                                    content_type="application/json",
                                    headers=self._headers(request))
        headers = self._headers(request)
        return web.Response(status=404, body=error_body(404, "model not found",
                                                        headers.get("request-id", "")),
                            content_type="application/json", headers=headers)

    async def batches(self, request: web.Request) -> web.Response:
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        raw = await request.read()
        tail = request.match_info["tail"].strip("/")
        batch_id, _, action = tail.partition("/")
        store = self.created["batch"]
        if not batch_id:
            if request.method == "POST":
                created: dict[str, Any] = {
                    "id": _id("msgbatch"), "type": "message_batch",
                    "processing_status": "in_progress",
                    "request_counts": {"processing": 1, "succeeded": 0, "errored": 0,
                                       "canceled": 0, "expired": 0},
                    "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
                    "ended_at": None, "archived_at": None, "cancel_initiated_at": None,
                    "results_url": None}
                store[created["id"]] = created
                self.batch_results[created["id"]] = _batch_results(
                    raw, request.headers.get("x-stub-output", self.config.output))
                return self._json(request, created)
            return self._json(request, _page(store))
        found = store.get(batch_id)
        if found is None:
            return self._missing(request, "message batch")
        if request.method == "DELETE":
            del store[batch_id]
            return self._json(request, {"id": batch_id, "type": "message_batch_deleted"})
        if action == "cancel":
            found = {**found, "processing_status": "canceling"}
            store[batch_id] = found
        elif action == "results":
            self.stats.completed += 1
            lines = self.batch_results.get(batch_id, [])
            return web.Response(body=b"".join(orjson.dumps(line) + b"\n" for line in lines),
                                content_type="application/x-jsonl",
                                headers=self._headers(request))
        return self._json(request, found)

    async def files(self, request: web.Request) -> web.Response:
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        upload = await _uploaded(request) if request.method == "POST" else None
        await request.read()
        tail = request.match_info["tail"].strip("/")
        file_id, _, action = tail.partition("/")
        store = self.created["file"]
        if not file_id:
            if request.method == "POST":
                mime_type, data = upload or ("application/octet-stream", b"")
                created: dict[str, Any] = {
                    "id": _id("file"), "type": "file", "filename": "upload",
                    "mime_type": mime_type, "size_bytes": len(data),
                    "created_at": "2026-01-01T00:00:00Z", "downloadable": True}
                store[created["id"]] = created
                self.file_bytes[created["id"]] = data
                return self._json(request, created)
            return self._json(request, _page(store))
        found = store.get(file_id)
        if found is None:
            return self._missing(request, "file")
        if request.method == "DELETE":
            del store[file_id]
            return self._json(request, {"id": file_id, "type": "file_deleted"})
        if action == "content":
            self.stats.completed += 1
            return web.Response(body=self.file_bytes.get(file_id) or b"stand-in file content",
                                content_type=found["mime_type"],
                                headers=self._headers(request))
        return self._json(request, found)

    async def feedback(self, request: web.Request) -> web.Response:
        """Claude Code's feedback submission: takes any JSON, answers an id."""
        failed = await self._prelude(request)
        if failed is not None:
            return failed
        await request.read()
        return self._json(request, {"feedback_id": _id("fb")})

    def _json(self, request: web.Request, value: dict[str, Any]) -> web.Response:
        self.stats.completed += 1
        return web.Response(body=orjson.dumps(value), content_type="application/json",
                            headers=self._headers(request))

    def _missing(self, request: web.Request, what: str) -> web.Response:
        headers = self._headers(request)
        return web.Response(status=404, body=error_body(
            404, f"No such {what}.", headers.get("request-id", "req_none")),
            content_type="application/json", headers=headers)

    async def requests_view(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"requests": [
            {"method": method, "target": target} for method, target in self.stats.received]}),
            content_type="application/json")

    async def stats_view(self, request: web.Request) -> web.Response:
        stats = self.stats
        return web.Response(body=orjson.dumps({
            "completed": stats.completed, "streams_completed": stats.streams_completed,
            "errors": stats.errors, "disconnects": stats.disconnects,
            "requests": stats.requests}), content_type="application/json")


def run_stub(
    host: str, port: int, config: StubConfig | None = None, *, exit_with_parent: bool = False
) -> None:
    """Serve the stand-in until interrupted (the `zdr stub-upstream` command). With
    `exit_with_parent`, also stop when the process that started it is gone (`zdr serve`)."""
    import os

    import uvloop

    app = StubUpstream(config).app()
    if exit_with_parent:
        parent = os.getppid()

        async def watch_parent(_: web.Application) -> AsyncIterator[None]:
            async def loop() -> None:
                while os.getppid() == parent:
                    await asyncio.sleep(0.5)
                raise web.GracefulExit

            task = asyncio.get_running_loop().create_task(loop())
            yield
            task.cancel()

        app.cleanup_ctx.append(watch_parent)
    web.run_app(app, host=host, port=port, print=None, access_log=None, handle_signals=True,
                loop=uvloop.new_event_loop())
