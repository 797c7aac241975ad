"""`build_console_app`: the web console as one Starlette app, mounted at /console by the wiring.

    app.mount("/console", build_console_app(plane, settings))

Pages are server-rendered (Jinja2) plain forms that work without JavaScript; every response gets
the security headers (`headers.py`); every POST needs the session's CSRF token (`web.py`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

import zdr.console.account_views as account_views
import zdr.console.audit_views as audit_views
import zdr.console.auth_views as auth_views
import zdr.console.evidence_views as evidence_views
import zdr.console.exchange_views as exchange_views
import zdr.console.flagged_views as flagged_views
import zdr.console.hold_views as hold_views
import zdr.console.member_views as member_views
import zdr.console.org_views as org_views
import zdr.console.review_views as review_views
from zdr.console.client_address import TrustedProxies
from zdr.console.headers import SecurityHeaders
from zdr.console.ratelimit import LoginRateLimiter
from zdr.console.rendering import Renderer
from zdr.console.sessions import SessionCodec
from zdr.console.web import Console, Handler, page_view
from zdr.control.plane import ControlPlane
from zdr.control.sessions import ConsoleSessions
from zdr.errors import StoreUnavailable
from zdr.outage import error_json, log_failure, outage_types
from zdr.settings import Settings

STATIC = Path(__file__).with_name("static")
SIGNING_KEY_FILE = "console-session.key"


def _get(path: str, handler: Handler, sign_in: bool = True) -> Route:
    return Route(path, page_view(handler, sign_in=sign_in), methods=["GET", "HEAD"])


def _post(path: str, handler: Handler, sign_in: bool = True) -> Route:
    return Route(path, page_view(handler, sign_in=sign_in), methods=["POST"])


def routes() -> list[BaseRoute]:
    return [
        _get("/", auth_views.home),
        _get("/login", auth_views.login_form, sign_in=False),
        _post("/login", auth_views.login, sign_in=False),
        _post("/logout", auth_views.logout, sign_in=False),
        _get("/orgs", org_views.overview),
        _post("/orgs", org_views.create_org),
        _get("/orgs/{org_id}/members", member_views.members_page),
        _post("/orgs/{org_id}/members", member_views.add_member),
        _get("/account", account_views.account_page),
        _post("/account/password", account_views.change_password),
        _get("/orgs/{org_id}/privacy", org_views.privacy_page),
        _post("/orgs/{org_id}/zdr-request", org_views.request_zdr),
        _get("/orgs/{org_id}/exchanges", exchange_views.org_exchanges),
        _get("/orgs/{org_id}/audit", audit_views.org_audit),
        _get("/orgs/{org_id}/evidence", evidence_views.evidence_page),
        _post("/orgs/{org_id}/evidence", evidence_views.issue),
        _get("/orgs/{org_id}/evidence/{seq:int}", evidence_views.download),
        _get("/exchanges/{exchange_id}", exchange_views.why),
        _get("/reviews", review_views.queue_page),
        _post("/reviews/{org_id}/approve", review_views.approve),
        _post("/reviews/{org_id}/deny", review_views.deny),
        _post("/reviews/{org_id}/revoke", review_views.revoke),
        _get("/holds", hold_views.holds_page),
        _post("/holds", hold_views.place),
        _post("/holds/{hold_id}/release", hold_views.release),
        _get("/flagged", flagged_views.flagged_page),
        _post("/flagged/{record_id:int}", flagged_views.read),
        _get("/audit", audit_views.audit_page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/{path:path}", page_view(org_views.not_found, sign_in=False)),
    ]


def session_secret(settings: Settings) -> bytes:
    """`Settings.session_secret`, else a random key kept in the home (0600), made on first use.

    Every worker of one home reads the same file, so a session works on any of them.
    """
    if settings.session_secret:
        return settings.session_secret.encode("utf-8")
    path = settings.home / SIGNING_KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    try:
        with path.open("x", encoding="ascii") as handle:   # another worker may win the race
            path.chmod(0o600)
            handle.write(secret.hex())
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    return secret


def build_console_app(
    plane: ControlPlane,
    settings: Settings,
    *,
    limiter: LoginRateLimiter | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> Starlette:
    """The console for one control plane. Mount it at /console.

    Sessions and the sign-in rate limit live in the control plane's database, so any number of
    workers or instances on one database agree on both."""
    console = Console(
        plane=plane,
        codec=SessionCodec(session_secret(settings)),
        renderer=Renderer(plane.ctx.catalog.version),
        limiter=limiter or LoginRateLimiter(plane.ctx.engine, clock=plane.ctx.now),
        sessions=ConsoleSessions(plane.ctx),
        secure_cookies=settings.console_secure_cookies,
        proxies=TrustedProxies.of(settings.forwarded_allow_ips),
    )
    if wall_clock is not None:
        console.wall_clock = wall_clock
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(SecurityHeaders, secure=settings.console_secure_cookies)],
        exception_handlers={500: _server_error, StoreUnavailable: _store_unavailable,
                            **{kind: _store_unavailable for kind in outage_types()}},
    )
    app.state.console = console
    return app


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """The database failed: a 503 page for an outage (a query's own error: the 500 page), and a
    log line with the error's type only (zdr.outage); never re-raised, so no traceback."""
    log_failure(exc, "console")
    status, _ = error_json(exc)
    console: Console = request.app.state.console
    message = ("The console's database is unavailable. Nothing was changed; try again shortly."
               if status == 503 else "The console could not show this page. Nothing was changed.")
    return console.renderer.render("error.html", {
        "title": "Database unavailable" if status == 503 else "Something went wrong",
        "message": message, "base": request.scope.get("root_path", ""),
    }, status=status)


async def _server_error(request: Request, exc: Exception) -> Response:
    console: Console = request.app.state.console
    return console.renderer.render("error.html", {
        "title": "Something went wrong",
        "message": "The console could not show this page. Nothing was changed.",
        "base": request.scope.get("root_path", ""),
    }, status=500)
