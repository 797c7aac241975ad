"""Sign in, sign out and the landing page.

Sign-in failures all read the same ("Invalid email or password"); after too many failures
(`zdr.console.ratelimit`: for one email from one address, for one email, from one address) the
form answers 429 until the window passes, whatever the password. A successful sign-in starts a
new session (a new token, recorded in the database, and a new CSRF token), so a session id
planted before sign-in is worthless afterwards. Signing out deletes the session's record.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.ratelimit import TooManyAttempts
from zdr.console.sessions import new_session, signed_in_session
from zdr.console.web import Page, client_address
from zdr.control.roles import Actor
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
    if errors:
        return page.render(request, "login.html", 400, title="Sign in", errors=errors,
                           email=email[:MAX_EMAIL], next_path=next_path)
    assert isinstance(password, str)
    try:
        actor = await checked_password(request, page, email, password)
    except TooManyAttempts as refused:
        response = page.render(request, "login.html", 429, title="Sign in",
                               errors={"form": too_many_message(refused.retry_after)},
                               email=email, next_path=next_path)
        response.headers["retry-after"] = str(max(1, math.ceil(refused.retry_after)))
        return response
    except AuthenticationFailed:
        return page.render(request, "login.html", 401, title="Sign in",
                           errors={"form": "Invalid email or password."}, email=email,
                           next_path=next_path)
    token = await run_in_threadpool(console.sessions.start, actor.user_id)
    page.session = signed_in_session(console.wall_clock(), token, actor.user_id)
    page.new_session = True
    return page.redirect(next_path)


async def checked_password(request: Request, page: Page, email: str, password: str) -> Actor:
    """The actor whose password this is, counted by the rate limit: raises `TooManyAttempts`
    (password not even checked) or `AuthenticationFailed`."""
    console = page.console
    attempt = await run_in_threadpool(console.limiter.begin, email, client_address(request))
    actor = await run_in_threadpool(console.plane.accounts.check_password, email, password)
    await run_in_threadpool(console.limiter.succeeded, attempt)
    return actor


def too_many_message(retry_after: float) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    return (f"Too many failed sign-ins. Try again in {minutes} minute"
            f"{'s' if minutes > 1 else ''}.")


async def logout(request: Request, page: Page) -> Response:
    """End the session in the database (every worker refuses its cookie from now on)."""
    if page.session.signed_in:
        await run_in_threadpool(page.console.sessions.end, page.session.session_id)
    page.session = new_session(page.console.wall_clock())
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
