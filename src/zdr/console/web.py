"""The request plumbing every console page shares: session cookie, viewer, CSRF, navigation.

A handler is written as `async def view(request, page) -> Response` and wrapped with `@page_view`;
the wrapper loads (or starts) the session, refuses a POST whose CSRF token is wrong before the
handler runs, checks a signed-in session against the database and resolves the viewer's roles
from the store, and sets the cookie.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from zdr.console import csrf
from zdr.console.client_address import TrustedProxies
from zdr.console.ratelimit import LoginRateLimiter
from zdr.console.rendering import NavItem, Renderer
from zdr.console.sessions import COOKIE_NAME, Session, SessionCodec, new_session
from zdr.control.context import ControlContext
from zdr.control.org_names import OrgId
from zdr.control.plane import ControlPlane
from zdr.control.roles import ORG_ROLES, Actor, authorize
from zdr.control.sessions import ConsoleSessions
from zdr.errors import DatabaseUnavailable, ZdrError


@dataclass(frozen=True, slots=True)
class Viewer:
    actor: Actor
    email: str
    org_names: Mapping[str, str] = field(default_factory=dict)   # org id -> name, own orgs

    @property
    def role_text(self) -> str:
        roles = sorted(self.actor.provider_roles)
        for org_id, org_roles in self.actor.org_roles.items():
            name = self.org_names.get(org_id, "organization")
            roles += [f"{role} of {name}" for role in ORG_ROLES if role in org_roles]
        return ", ".join(roles) or "no role"

    def may(self, action: str, org_id: str | None = None) -> bool:
        return authorize(self.actor, action, org_id).allowed


def load_viewer(sessions: ConsoleSessions, plane: ControlPlane, session: Session
                ) -> Viewer | None:
    """The signed-in person as the control plane sees them now (None: the session has ended or
    expired, or the account is disabled)."""
    try:
        actor = sessions.actor_for(session.session_id)
    except DatabaseUnavailable:     # the outage page (zdr.console.app)
        raise
    except ZdrError:
        return None
    if actor.user_id != session.user_id:
        return None
    names = {} if actor.is_provider else {org.id: org.name for org in plane.orgs.list(actor)}
    return Viewer(actor=actor, email=actor.email, org_names=names)


@dataclass
class Console:
    """Everything the pages need, built once by `build_console_app`."""

    plane: ControlPlane
    codec: SessionCodec
    renderer: Renderer
    limiter: LoginRateLimiter
    sessions: ConsoleSessions
    secure_cookies: bool
    proxies: TrustedProxies = field(default_factory=TrustedProxies)
    wall_clock: Callable[[], float] = time.time

    @property
    def control(self) -> ControlContext:
        return self.plane.ctx


@dataclass
class Page:
    console: Console
    session: Session
    viewer: Viewer | None
    form: FormData | None
    base: str
    new_session: bool = False

    @property
    def signed_in_viewer(self) -> Viewer:
        assert self.viewer is not None
        return self.viewer

    def field(self, name: str, limit: int = 2000) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip()[:limit] if isinstance(value, str) else ""

    def render(self, request: Request, template: str, status: int = 200, **context: Any
               ) -> Response:
        base_context: dict[str, Any] = {
            "base": self.base,
            "csrf_token": self.session.csrf_token,
            "viewer": self.viewer,
            "nav": navigation(self.viewer, request.url.path.removeprefix(self.base)),
            "flash": flash_message(request),
        }
        return self.console.renderer.render(template, {**base_context, **context}, status)

    def redirect(self, path: str, flash: str | None = None) -> RedirectResponse:
        target = self.base + path
        if flash:
            target += ("&" if "?" in target else "?") + "done=" + quote(flash)
        return RedirectResponse(target, status_code=303)


FLASHES = {
    "zdr-requested": ("good", "Zero data retention requested. A provider reviewer will decide."),
    "approved": ("good", "Approved. Zero data retention is in force from the effective date."),
    "denied": ("good", "Denied. The organization sees your note."),
    "revoked": ("good", "Revoked. The organization's default retention applies again."),
    "hold-placed": ("good", "Hold placed: nothing under it will be deleted until it is released."),
    "hold-released": ("good", "Hold released: purge may now take what has expired."),
    "signed-out": ("good", "You are signed out."),
    "password-changed": ("good", "Password changed. You are signed out everywhere else."),
    "member-added": ("good", "Added. They see this organization when they next sign in."),
    "org-created": ("good", "Organization created."),
    "statement-issued": ("good", "Statement signed. Download it below; anyone can check it "
                                 "with the public key."),
}


def flash_message(request: Request) -> dict[str, str] | None:
    known = FLASHES.get(request.query_params.get("done", ""))
    return None if known is None else {"kind": known[0], "text": known[1]}


def navigation(viewer: Viewer | None, current: str) -> tuple[NavItem, ...]:
    if viewer is None:
        return ()
    items: list[tuple[str, str]] = []
    for org_id, name in viewer.org_names.items():
        if viewer.actor.member_of(org_id):
            label = "Privacy Controls" if len(viewer.org_names) == 1 else f"{name}: Privacy"
            items.append((f"/orgs/{org_id}/privacy", label))
            if viewer.may("audit.read", org_id) and not viewer.actor.is_provider:
                items.append((f"/orgs/{org_id}/audit", "Audit log"))
            if viewer.may("evidence.read", org_id) and not viewer.actor.is_provider:
                items.append((f"/orgs/{org_id}/evidence", "Evidence"))
            if viewer.may("member.read", org_id) and not viewer.actor.is_provider:
                items.append((f"/orgs/{org_id}/members", "Members"))
    provider_pages = (
        ("zdr.approve", "/reviews", "Reviews"),
        ("org.read", "/orgs", "Organizations"),
        ("hold.read", "/holds", "Holds"),
        ("flagged.read", "/flagged", "Flagged content"),
        ("audit.read", "/audit", "Audit log"),
    )
    if viewer.actor.is_provider:
        items += [(path, label) for action, path, label in provider_pages
                  if viewer.may(action, None)]
    return tuple(NavItem(path, label, current == path or current.startswith(path + "/"))
                 for path, label in items)


Handler = Callable[[Request, Page], Awaitable[Response]]
MAX_FORM_BYTES = 64 * 1024      # every console form is far smaller; bigger bodies are refused


def org_id_param(request: Request) -> OrgId:
    """The organization in a console path: always its id, never looked up as a name."""
    return OrgId(request.path_params["org_id"])


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def client_address(request: Request) -> str:
    """The client's address: the connection's peer, or what trusted proxies say it is."""
    console: Console = request.app.state.console
    return console.proxies.client(_peer(request), request.headers.getlist("x-forwarded-for"))


def is_https(request: Request) -> bool:
    console: Console = request.app.state.console
    scheme = console.proxies.scheme(request.url.scheme, _peer(request),
                                    request.headers.get("x-forwarded-proto"))
    return scheme == "https"


def page_view(
    handler: Handler, *, sign_in: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a console handler: session, CSRF on POST, signed-in viewer, cookie."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        console: Console = request.app.state.console
        now = console.wall_clock()
        session = console.codec.decode(request.cookies.get(COOKIE_NAME), now)
        fresh = session is None
        if session is None:
            session = new_session(now)
        base = request.scope.get("root_path", "")
        form = None
        if request.method == "POST":
            declared = request.headers.get("content-length", "")
            if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
                page = Page(console, session, None, None, base, fresh)
                return finish(request, page.render(
                    request, "error.html", 413, title="Form too large",
                    message="This form was too large to accept. Shorten it and try again."),
                    page)
            form = await request.form(max_files=0, max_fields=50, max_part_size=MAX_FORM_BYTES)
            if fresh or not csrf.token_matches(session, form.get(csrf.FIELD)):
                page = Page(console, session, None, None, base, fresh)
                refusal = page.render(
                    request, "error.html", 403, title="Form expired",
                    message="This form was not accepted (its security token is missing or out of "
                            "date). Go back, reload the page and try again.")
                return finish(request, refusal, page)
        viewer = None
        if session.signed_in:
            viewer = await run_in_threadpool(load_viewer, console.sessions, console.plane,
                                             session)
            if viewer is None:
                session, fresh = new_session(now), True
        page = Page(console, session, viewer, form, base, fresh)
        response: Response
        if sign_in and viewer is None:
            target = request.url.path.removeprefix(base)
            response = page.redirect(f"/login?next={quote(target)}")
        else:
            try:
                response = await handler(request, page)
            except DatabaseUnavailable:     # the outage page (zdr.console.app)
                raise
            except ZdrError as error:
                response = error_page(request, page, error)
        response = finish(request, response, page)
        timing = response.headers.get("server-timing")
        total = f"total;dur={(time.perf_counter() - started) * 1000:.2f}"
        response.headers["server-timing"] = f"{timing}, {total}" if timing else total
        return response

    return endpoint


ERROR_TITLES = {403: "Not allowed", 404: "Not found", 409: "Not possible now"}


def error_page(request: Request, page: Page, error: ZdrError) -> Response:
    """A control-plane refusal as a page: 404 says nothing about what exists."""
    status = error.status if error.status in (400, 403, 404, 409, 422) else 500
    if status == 404:
        message = "There is no such page, or you may not see it."
    elif status == 500:
        message = "Something went wrong. Nothing was changed."
    else:
        message = error.message
    return page.render(request, "error.html", status,
                       title=ERROR_TITLES.get(status, "Not possible"), message=message)


def finish(request: Request, response: Response, page: Page) -> Response:
    """Set the session cookie when the session is new: HttpOnly, SameSite=Strict, Secure on TLS."""
    if page.new_session:
        console = page.console
        response.set_cookie(
            COOKIE_NAME, console.codec.encode(page.session), max_age=page.session.lifetime,
            path=page.base or "/", httponly=True, samesite="strict",
            secure=console.secure_cookies or is_https(request),
        )
    return response

