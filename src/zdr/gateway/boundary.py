"""`ErrorBoundary`: the last line around the whole app `zdr serve` runs (built in `zdr.wiring`)."""

from __future__ import annotations

import contextlib
from typing import Any

from zdr.gateway.asgi import ASGIApp, Receive, Scope, Send
from zdr.gateway.responses import new_request_id, send_error
from zdr.outage import error_json, is_store_outage, logged_type, where


class ErrorBoundary:
    """Around the whole gateway (`zdr serve`): an exception that escapes `app` is answered in
    the API's format if no response has started (503 for an outage, else 500) and logged by
    type and location; it is never re-raised, so the server prints no traceback."""

    def __init__(self, app: ASGIApp, logger: Any) -> None:
        self.app = app
        self.log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:     # answered and logged by type, never re-raised
            if scope["type"] != "http":
                raise
            request_id = new_request_id()
            self.log.error("store_unavailable" if is_store_outage(error) else "unhandled_error",
                           request_id=request_id, error_type=logged_type(error),
                           location=where(error), surface=surface_of(scope.get("path", "")))
            status, body = error_json(error)
            # If the response had started, this fails and the client sees the connection end
            # unfinished (never a clean end of a truncated body).
            with contextlib.suppress(Exception):
                await send_error(send, status, body["error"]["type"], body["error"]["message"],
                                 request_id, "none")


def surface_of(path: str) -> str:
    """Which surface a path belongs to, from a closed set (a path may carry anything)."""
    for prefix, surface in (("/admin/", "admin_api"), ("/console", "console"),
                            ("/v1/", "api")):
        if path.startswith(prefix):
            return surface
    return "other"
