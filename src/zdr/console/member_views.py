"""The people of one organization: its owners and admins see them; its owners add people.

Adding someone by email answers the same whether or not the email has an account, and shows
only roles in this organization (`zdr.control.accounts.Accounts.add_member`).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.web import Page, org_id_param
from zdr.control.accounts import MAX_EMAIL
from zdr.control.org_names import OrgId
from zdr.control.roles import ORG_ROLES, Actor
from zdr.errors import DatabaseUnavailable, ZdrError


def _context(page: Page, actor: Actor, org_id: OrgId) -> dict[str, Any]:
    plane = page.console.plane
    org = plane.orgs.show(actor, org_id)
    return {"org": org, "members": plane.accounts.members(actor, org_id)}


async def members_page(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                       form: dict[str, str] | None = None, status: int = 200) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    context = await run_in_threadpool(_context, page, viewer.actor, org_id)
    return page.render(request, "members.html", status, title="Members", errors=errors or {},
                       form=form or {"email": "", "role": "org_member"}, roles=ORG_ROLES,
                       can_add=viewer.may("membership.grant", context["org"].id), **context)


async def add_member(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    form = {"email": page.field("email", limit=MAX_EMAIL + 1).lower(),
            "role": page.field("role", limit=40)}
    errors: dict[str, str] = {}
    if "@" not in form["email"] or len(form["email"]) > MAX_EMAIL:
        errors["email"] = "Enter the person's email address."
    if form["role"] not in ORG_ROLES:
        errors["role"] = "Choose a role."
    if not errors:
        try:
            await run_in_threadpool(page.console.plane.accounts.add_member, viewer.actor,
                                    org_id, form["email"], form["role"])
        except DatabaseUnavailable:     # the outage page (zdr.console.app)
            raise
        except ZdrError as error:
            if error.status in (403, 404):
                raise
            errors["email"] = error.message[:1].upper() + error.message[1:] + "."
    if errors:
        return await members_page(request, page, errors=errors, form=form, status=400)
    return page.redirect(f"/orgs/{org_id}/members", "member-added")
