"""Your account: change your console password.

The current password is checked (and counted by the sign-in rate limit, like a sign-in); the new
one ends every session of yours on every worker, and this browser gets a fresh one.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.auth_views import MAX_PASSWORD, too_many_message
from zdr.console.ratelimit import TooManyAttempts
from zdr.console.sessions import signed_in_session
from zdr.console.web import Page, client_address
from zdr.control.accounts import MIN_PASSWORD
from zdr.errors import InvalidRequest


def _secret(page: Page, name: str) -> str:
    """A password field as typed (not trimmed), or "" when absent."""
    value = page.form.get(name) if page.form is not None else None
    return value if isinstance(value, str) else ""


async def account_page(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                       status: int = 200) -> Response:
    return page.render(request, "account.html", status, title="Your account",
                       errors=errors or {}, min_password=MIN_PASSWORD)


async def change_password(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    console = page.console
    current, new = _secret(page, "current_password"), _secret(page, "new_password")
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password."  # noqa: S105 - a message
    elif len(current) > MAX_PASSWORD:
        errors["current_password"] = "That password is too long."  # noqa: S105 - a message
    if len(new) < MIN_PASSWORD:
        errors["new_password"] = f"Use at least {MIN_PASSWORD} characters."
    elif len(new) > MAX_PASSWORD:
        errors["new_password"] = "That password is too long."  # noqa: S105 - a message
    elif new != _secret(page, "confirm_password"):
        errors["confirm_password"] = "The two new passwords differ."  # noqa: S105 - a message
    if errors:
        return await account_page(request, page, errors=errors, status=400)
    try:
        attempt = await run_in_threadpool(console.limiter.begin, viewer.email,
                                          client_address(request))
    except TooManyAttempts as refused:
        return await account_page(request, page, status=429, errors={
            "current_password": too_many_message(refused.retry_after)})
    try:
        await run_in_threadpool(console.plane.accounts.set_password, viewer.actor, viewer.email,
                                new, current)
    except InvalidRequest as error:
        field = "current_password" if "current" in error.message else "new_password"
        return await account_page(request, page, status=400, errors={
            field: error.message[:1].upper() + error.message[1:] + "."})
    await run_in_threadpool(console.limiter.succeeded, attempt)
    token = await run_in_threadpool(console.sessions.start, viewer.actor.user_id)
    page.session = signed_in_session(console.wall_clock(), token, viewer.actor.user_id)
    page.new_session = True
    return page.redirect("/account", "password-changed")
