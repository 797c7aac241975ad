"""Who may read `/metrics`, and where it is served.

Metrics carry no content (`zdr.observability`), but they tell traffic volumes per surface,
retention and outcome: not for the whole network. `MetricsAccess.from_settings`:

- `metrics_port` set: served only on `metrics_host:metrics_port` (default host 127.0.0.1), with
  the token if one is set; the gateway's own port answers 404;
- else `metrics_token` set: served on the gateway's port to `Authorization: Bearer TOKEN` only
  (401 in the API's format otherwise);
- else (the default): served on the gateway's port when it listens on a loopback address only;
  listening on any other address, `/metrics` answers 404 until one of the two is set.

`MetricsListener` serves the separate port from each worker (`SO_REUSEPORT`: with several
workers, a scrape reaches one of them, as on the gateway's port).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from zdr.errors import AuthenticationFailed, NotFound, ZdrError
from zdr.errors import render as render_error
from zdr.settings import Settings

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
UNAUTHORIZED = "Reading metrics needs `Authorization: Bearer` with the configured metrics token."


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    on_gateway_port: bool = True
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsAccess:
        token = settings.metrics_token or None
        if settings.metrics_port is not None:
            return cls(on_gateway_port=False, token=token)
        return cls(on_gateway_port=token is not None or is_loopback(settings.host), token=token)

    def status(self, authorization: str | None, *, gateway_port: bool = True) -> int:
        """200 to serve the metrics, 401 for a missing or wrong token, 404 where they are not
        served."""
        if gateway_port and not self.on_gateway_port:
            return 404
        if self.token is None:
            return 200
        presented = ""
        if authorization and authorization[:7].lower() == "bearer ":
            presented = authorization[7:].strip()
        return 200 if hmac.compare_digest(presented.encode(), self.token.encode()) else 401


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsListener:
    """`/metrics` on its own address, in the worker's event loop (start/stop are app hooks)."""

    def __init__(self, host: str, port: int, access: MetricsAccess,
                 render: Callable[[], bytes]) -> None:
        self._host, self._port, self._access, self._render = host, port, access, render
        self._runner: web.AppRunner | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        status = self._access.status(request.headers.get("authorization"), gateway_port=False)
        if status != 200:
            return _refusal(AuthenticationFailed(UNAUTHORIZED), {"WWW-Authenticate": "Bearer"})
        return web.Response(body=self._render(), headers={"content-type": TEXT_FORMAT})

    async def _not_found(self, _: web.Request) -> web.Response:
        return _refusal(NotFound("Not found."))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site: Any = web.TCPSite(self._runner, self._host, self._port, reuse_port=True)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _refusal(error: ZdrError, headers: dict[str, str] | None = None) -> web.Response:
    status, body = render_error(error)
    return web.json_response(body, status=status, headers=headers)
