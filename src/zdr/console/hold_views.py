"""Holds: provider legal and trust & safety people place and release them; admins can see them."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.web import Page
from zdr.control.roles import Actor
from zdr.errors import DatabaseUnavailable, ZdrError

SCOPES = ("org", "workspace", "exchange")


def _context(page: Page, actor: Actor) -> dict[str, Any]:
    plane = page.console.plane
    holds = plane.holds.list(actor, include_released=True)
    orgs = plane.orgs.list(actor, include_deleted=True)
    names = {org.id: org.name for org in orgs}
    active = [h for h in holds if h.released_at is None]
    released = sorted((h for h in holds if h.released_at is not None),
                      key=lambda h: h.released_at or h.placed_at, reverse=True)[:20]
    return {"active": active, "released": released, "orgs": orgs, "org_names": names}


async def holds_page(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                     form: dict[str, str] | None = None, status: int = 200) -> Response:
    viewer = page.signed_in_viewer
    context = await run_in_threadpool(_context, page, viewer.actor)
    return page.render(
        request, "holds.html", status, title="Holds", errors=errors or {},
        form=form or {"org": "", "scope": "org", "workspace": "", "exchange_id": "", "reason": ""},
        can_place=viewer.may("hold.place", None), can_release=viewer.may("hold.release", None),
        scopes=SCOPES, **context,
    )


async def place(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    form = {name: page.field(name, limit=2100)
            for name in ("org", "scope", "workspace", "exchange_id", "reason")}
    errors: dict[str, str] = {}
    if not form["org"]:
        errors["org"] = "Choose the organization the hold is on."
    if form["scope"] not in SCOPES:
        errors["scope"] = "Choose what the hold covers."
    if form["scope"] == "workspace" and not form["workspace"]:
        errors["workspace"] = "Name the workspace the hold covers."
    if form["scope"] == "exchange" and not form["exchange_id"]:
        errors["exchange_id"] = "Give the id of the request the hold covers."
    if not form["reason"]:
        errors["reason"] = "Say why: the reason is kept with the hold and in the audit log."
    elif len(form["reason"]) > 2000:
        errors["reason"] = "Keep the reason under 2,000 characters."
    if not errors:
        try:
            await run_in_threadpool(
                page.console.plane.holds.place, viewer.actor, form["org"], form["reason"],
                form["scope"],  # type: ignore[arg-type]
                form["workspace"] if form["scope"] == "workspace" else None,
                form["exchange_id"] if form["scope"] == "exchange" else None,
            )
        except DatabaseUnavailable:     # the outage page (zdr.console.app)
            raise
        except ZdrError as error:
            if error.status == 403:
                raise
            field = {"workspace not found": "workspace", "exchange not found": "exchange_id",
                     "organization not found": "org"}.get(error.message, "reason")
            errors[field] = error.message[:1].upper() + error.message[1:] + "."
    if errors:
        return await holds_page(request, page, errors=errors, form=form, status=400)
    return page.redirect("/holds", "hold-placed")


async def release(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    await run_in_threadpool(page.console.plane.holds.release, viewer.actor,
                            request.path_params["hold_id"])
    return page.redirect("/holds", "hold-released")
