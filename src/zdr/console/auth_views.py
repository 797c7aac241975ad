"""Sign in, sign out and the landing page.

Sign-in failures all read the same ("Invalid email or password"); after too many failures for one
email from one address the form answers 429 until the window passes, whatever the password.
A successful sign-in starts a new session (new id, new CSRF token), so a session id planted
before sign-in is worthless afterwards.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.sessions import new_session
from zdr.console.web import Page, client_address
from zdr.errors import AuthenticationFailed

MAX_EMAIL = 320
MAX_PASSWORD = 1024


def safe_next(value: str) -> str:
    """A console-relative path to go to after sign-in; anything else goes home."""
    parts = urlsplit(value)
    if (not value.startswith("/") or value.startswith("//") or "\\" in value
            or parts.scheme or parts.netloc or value.startswith("/login")):
        return "/"
    return value


async def login_form(request: Request, page: Page) -> Response:
    if page.viewer is not None:
        return page.redirect(safe_next(request.query_params.get("next", "/")))
    return page.render(request, "login.html", title="Sign in", email="",
                       next_path=safe_next(request.query_params.get("next", "/")))


async def login(request: Request, page: Page) -> Response:
    console = page.console
    email = page.field("email", limit=MAX_EMAIL + 1).lower()
    password = page.form.get("password") if page.form is not None else None
    next_path = safe_next(page.field("next", limit=2000))
    errors: dict[str, str] = {}
    if not email or "@" not in email or len(email) > MAX_EMAIL:
        errors["email"] = "Enter the email address of your account."
    if not isinstance(password, str) or not password:
        errors["password"] = "Enter your password."  # noqa: S105 - a message, not a password
    elif len(password) > MAX_PASSWORD:
        errors["password"] = "That password is too long."  # noqa: S105 - a message
    address = client_address(request)
    status = 400
    if not errors:
        wait = console.limiter.retry_after(email, address)
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            errors["form"] = (f"Too many failed sign-ins. Try again in {minutes} minute"
                              f"{'s' if minutes > 1 else ''}.")
            status = 429
    if not errors:
        assert isinstance(password, str)
        try:
            actor = await run_in_threadpool(console.plane.accounts.check_password, email, password)
        except AuthenticationFailed:
            console.limiter.failed(email, address)
            errors["form"] = "Invalid email or password."
            status = 401
        else:
            console.limiter.succeeded(email, address)
            page.session = new_session(console.wall_clock(), actor.user_id, actor.email)
            page.new_session = True
            return page.redirect(next_path)
    response = page.render(request, "login.html", status, title="Sign in", errors=errors,
                           email=email[:MAX_EMAIL], next_path=next_path)
    if status == 429:
        wait = console.limiter.retry_after(email, address)
        response.headers["retry-after"] = str(math.ceil(wait))
    return response


async def logout(request: Request, page: Page) -> Response:
    now = page.console.wall_clock()
    if page.session.signed_in:
        page.console.signed_out.forget_expired(now)
        page.console.signed_out.add(page.session)
    page.session = new_session(now)
    page.new_session = True
    return page.redirect("/login", "signed-out")


async def home(request: Request, page: Page) -> Response:
    """Send each person to the page they most likely came for."""
    viewer = page.signed_in_viewer
    if viewer.actor.is_provider:
        for action, path in (("zdr.approve", "/reviews"), ("flagged.read", "/flagged"),
                             ("hold.read", "/holds"), ("org.read", "/orgs")):
            if viewer.may(action, None):
                return page.redirect(path)
    for org_id in viewer.org_names:
        return page.redirect(f"/orgs/{org_id}/privacy")
    return page.render(request, "error.html", 200, title="No organization yet",
                       message="Your account has no role in any organization yet. Ask an owner "
                               "of your organization to add you.")
