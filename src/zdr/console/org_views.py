"""Pages of one organization: Settings > Privacy Controls > Data retention period, requests.

Everything read goes through the control services with the viewer's actor, so the service layer
decides who may see what: another organization's people get the services' "not found".
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.privacy import WorkspaceRow, ZdrRequestRow, period, summarize
from zdr.console.web import Page, org_id_param
from zdr.control.arrangements import Arrangements
from zdr.control.lifecycle import plan_refusal
from zdr.control.organizations import Organizations
from zdr.control.roles import Actor, authorize
from zdr.control.views import OrgView
from zdr.control.workspaces import Workspaces
from zdr.errors import DatabaseUnavailable, ZdrError
from zdr.policy import OrgState


def _privacy_context(page: Page, actor: Actor, org_id: str) -> dict[str, Any]:
    control = page.console.control
    org = Organizations(control).show(actor, org_id)
    workspaces = Workspaces(control).list(actor, org.id)
    history = Arrangements(control).zdr_history(actor, org.id)
    catalog, now = control.catalog, control.now()
    state = OrgState(plan=org.plan, zdr_status=org.zdr_status,  # type: ignore[arg-type]
                     zdr_effective_at=org.zdr_effective_at, hipaa=org.hipaa,
                     baa_version=org.baa_version, retention_days=org.retention_days,
                     org_id=org.id)
    summary = summarize(
        state,
        [WorkspaceRow(w.id, w.name, w.retention_override_days) for w in workspaces],
        [ZdrRequestRow(r.id, r.status, r.reason, r.requested_at, r.decided_at, r.effective_at,
                       r.note) for r in history],
        catalog, now, org.hipaa_accepted_at,
    )
    return {"org": _org_context(org), "summary": summary}


def _org_context(org: OrgView) -> dict[str, Any]:
    return {
        "id": org.id, "name": org.name, "plan": org.plan, "hipaa": org.hipaa,
        "zdr_status": org.zdr_status, "deleted": org.deleted_at is not None,
        "restore_until": org.restorable_until,
    }


def _request_blocked(page: Page, org: dict[str, Any], zdr_status: str) -> str | None:
    catalog = page.console.control.catalog
    refusal = plan_refusal(str(org["plan"]), catalog.zdr_plans, catalog.messages.zdr_plan_refused)
    if refusal is not None:
        return refusal
    if zdr_status == "approved":
        return "Zero data retention is approved for this organization."
    return None


async def privacy_page(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                       form_reason: str = "", status: int = 200) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    context = await run_in_threadpool(_privacy_context, page, viewer.actor, org_id)
    org = context["org"]
    assert isinstance(org, dict)
    zdr_status = str(org["zdr_status"])
    blocked = _request_blocked(page, org, zdr_status)
    catalog = page.console.control.catalog
    may_request = viewer.may("zdr.request", str(org["id"]))
    can_request = may_request and blocked is None and zdr_status != "requested"
    return page.render(
        request, "privacy.html", status,
        title="Data retention period",
        can_request=can_request,
        request_blocked=blocked if may_request else None,
        errors=errors or {},
        form_reason=form_reason,
        covered_min=period(catalog.retention.covered_model_min_days),
        covered_message=catalog.messages.covered_model,
        exchanges_link=viewer.may("org.read", str(org["id"])),
        evidence_link=viewer.may("evidence.read", str(org["id"])),
        **context,
    )


async def request_zdr(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    reason = page.field("reason", limit=5000)
    errors: dict[str, str] = {}
    if len(reason) > 2000:
        errors["reason"] = "Keep the reason under 2,000 characters."
    if not errors:
        try:
            await run_in_threadpool(Arrangements(page.console.control).request_zdr,
                                    viewer.actor, org_id, reason or None)
        except DatabaseUnavailable:     # the outage page (zdr.console.app)
            raise
        except ZdrError as error:
            if error.status in (403, 404):
                raise
            errors["reason"] = error.message
    if errors:
        return await privacy_page(request, page, errors=errors, form_reason=reason, status=400)
    return page.redirect(f"/orgs/{org_id}/privacy", "zdr-requested")


def _overview(page: Page, actor: Actor) -> dict[str, Any]:
    plane = page.console.plane
    page.console.control.guard(actor, "org.read", None)
    orgs = plane.orgs.list(actor, include_deleted=True)
    hold_counts: dict[str, int] | None = None
    if authorize(actor, "hold.read", None).allowed:
        hold_counts = {}
        for hold in plane.holds.list(actor):
            hold_counts[hold.org_id] = hold_counts.get(hold.org_id, 0) + 1
    return {"orgs": orgs, "hold_counts": hold_counts}


async def overview(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                   form: dict[str, str] | None = None, status: int = 200) -> Response:
    viewer = page.signed_in_viewer
    context = await run_in_threadpool(_overview, page, viewer.actor)
    return page.render(request, "orgs.html", status, title="Organizations",
                       can_revoke=viewer.may("zdr.revoke", None),
                       can_create=viewer.may("org.create", None),
                       plans=sorted(page.console.control.catalog.plans), errors=errors or {},
                       form=form or {"name": "", "plan": ""}, **context)


async def create_org(request: Request, page: Page) -> Response:
    """A new organization (provider admins); a refused name is shown next to the field."""
    viewer = page.signed_in_viewer
    form = {"name": page.field("name", limit=1000), "plan": page.field("plan", limit=40)}
    errors: dict[str, str] = {}
    if form["plan"] not in page.console.control.catalog.plans:
        errors["plan"] = "Choose a plan."
    if not errors:
        try:
            created = await run_in_threadpool(page.console.plane.orgs.create, viewer.actor,
                                              form["name"], form["plan"])
        except DatabaseUnavailable:     # the outage page (zdr.console.app)
            raise
        except ZdrError as error:
            if error.status in (403, 404):
                raise
            errors["name"] = error.message[:1].upper() + error.message[1:] + "."
        else:
            return page.redirect(f"/orgs/{created.id}/privacy", "org-created")
    return await overview(request, page, errors=errors, form=form, status=400)


async def not_found(request: Request, page: Page) -> Response:
    return page.render(request, "error.html", 404, title="Not found",
                       message="There is no such page, or you may not see it.")
