"""The provider's reviewer queue: pending ZDR requests, approved (with an effective date) or
denied (with a note)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.web import Page, org_id_param
from zdr.control.arrangements import Arrangements
from zdr.control.lifecycle import plan_refusal
from zdr.control.organizations import Organizations
from zdr.control.roles import Actor
from zdr.control.views import OrgView, ZdrRequestView
from zdr.errors import DatabaseUnavailable, Unprocessable, ZdrError


@dataclass(frozen=True, slots=True)
class PendingRequest:
    org: OrgView
    request: ZdrRequestView
    plan_refusal: str | None     # why this org's plan cannot hold ZDR, if it cannot


def pending_requests(page: Page, actor: Actor) -> list[PendingRequest]:
    control = page.console.control
    page.console.control.guard(actor, "zdr.approve", None)
    arrangements = Arrangements(control)
    pending = []
    for org in Organizations(control).list(actor):
        if org.zdr_status != "requested":
            continue
        history = arrangements.zdr_history(actor, org.id)
        open_request = next((r for r in reversed(history) if r.status == "requested"), None)
        if open_request is not None:
            catalog = control.catalog
            refusal = plan_refusal(org.plan, catalog.zdr_plans, catalog.messages.zdr_plan_refused)
            pending.append(PendingRequest(org, open_request, refusal))
    return sorted(pending, key=lambda p: p.request.requested_at)


async def queue_page(
    request: Request, page: Page, *, errors: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    viewer = page.signed_in_viewer
    pending = await run_in_threadpool(pending_requests, page, viewer.actor)
    now = page.console.control.now()
    return page.render(request, "reviews.html", status, title="ZDR reviews", pending=pending,
                       errors_by_org=errors or {}, default_effective=_local_input(now))


def _local_input(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def parse_effective(value: str) -> datetime | None:
    """`datetime-local` input (read as UTC) or ISO 8601; None when it cannot be read."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def approve(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    raw = page.field("effective_at", limit=64)
    note = page.field("note", limit=5000) or None
    effective = parse_effective(raw)
    if raw and effective is None:
        return await queue_page(request, page, status=400, errors={org_id: {
            "effective_at": "Enter the date and time as YYYY-MM-DD HH:MM (UTC)."}})
    try:
        await run_in_threadpool(Arrangements(page.console.control).approve_zdr,
                                viewer.actor, org_id, effective, note)
    except DatabaseUnavailable:     # the outage page (zdr.console.app)
        raise
    except ZdrError as error:
        if error.status == 404:
            raise
        field = "effective_at" if "effective" in error.message else "approve"
        return await queue_page(request, page, status=error.status,
                                errors={org_id: {field: error.message}})
    return page.redirect("/reviews", "approved")


async def deny(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    note = page.field("note", limit=5000)
    if not note:
        return await queue_page(request, page, status=400, errors={org_id: {
            "note": "Say why the request is denied: the organization sees this note."}})
    try:
        await run_in_threadpool(Arrangements(page.console.control).deny_zdr,
                                viewer.actor, org_id, note)
    except DatabaseUnavailable:     # the outage page (zdr.console.app)
        raise
    except ZdrError as error:
        if error.status == 404:
            raise
        return await queue_page(request, page, status=error.status,
                                errors={org_id: {"note": error.message}})
    return page.redirect("/reviews", "denied")


async def revoke(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    note = page.field("note", limit=5000)
    if not note:
        raise Unprocessable("Say why zero data retention is revoked: the organization sees it.")
    await run_in_threadpool(Arrangements(page.console.control).revoke_zdr, viewer.actor, org_id,
                            note)
    return page.redirect("/orgs", "revoked")
