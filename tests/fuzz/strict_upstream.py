"""A stand-in upstream that is strict where the real API is: any request body that is not a
well-formed Messages request gets a 400 `invalid_request_error` that quotes nothing of it.

The fuzz tests send only malformed requests, so whatever the gateway relays must come back 4xx;
a 5xx can then only be the gateway's own.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
from aiohttp import web

from zdr.testing.servers import bound_socket

ROLES = {"user", "assistant"}


def _valid_block(block: Any) -> bool:
    return (isinstance(block, dict) and block.get("type") == "text"
            and isinstance(block.get("text"), str) and set(block) <= {"type", "text"})


def _valid_message(message: Any) -> bool:
    if not isinstance(message, dict) or set(message) != {"role", "content"}:
        return False
    content = message["content"]
    return message["role"] in ROLES and (
        isinstance(content, str)
        or (isinstance(content, list) and bool(content) and all(map(_valid_block, content))))


def valid_messages_request(body: Any) -> bool:
    """The strict subset of a Messages request this stand-in answers (no tools, no extras)."""
    if not isinstance(body, dict) or not {"model", "max_tokens", "messages"} <= set(body):
        return False
    if not set(body) <= {"model", "max_tokens", "messages", "stream", "system"}:
        return False
    return (isinstance(body["model"], str) and bool(body["model"])
            and type(body["max_tokens"]) is int and 0 < body["max_tokens"] <= 4096
            and isinstance(body["messages"], list) and bool(body["messages"])
            and all(map(_valid_message, body["messages"]))
            and type(body.get("stream", False)) is bool
            and isinstance(body.get("system", ""), str))


def _error(status: int, error_type: str) -> web.Response:
    return web.Response(status=status, content_type="application/json", body=orjson.dumps(
        {"type": "error", "error": {"type": error_type, "message": "Invalid request."}}))


class StrictUpstream:
    def __init__(self) -> None:
        self.received = 0
        self.answered_ok = 0
        self.sock = bound_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.received += 1
        data = await request.read()
        if request.path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return _error(404, "not_found_error")
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return _error(400, "invalid_request_error")
        if not valid_messages_request(body):
            return _error(400, "invalid_request_error")
        self.answered_ok += 1
        return web.json_response({"id": "msg_strict", "type": "message", "role": "assistant",
                                  "model": body["model"], "content": [{"type": "text",
                                  "text": "ok"}], "stop_reason": "end_turn",
                                  "usage": {"input_tokens": 1, "output_tokens": 1}})

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            app = web.Application(client_max_size=256 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, self.sock).start()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        asyncio.run(serve())

    def __enter__(self) -> StrictUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("strict upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self.sock.close()
