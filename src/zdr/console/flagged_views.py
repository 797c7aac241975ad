"""Flagged-content review for trust & safety: records listed without content; reading one is a
deliberate POST that the control plane audits before it decrypts."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.web import Page
from zdr.control.roles import Actor
from zdr.control.views import FlaggedView, OrgView
from zdr.store.content import unpack

PER_ORG = 100


def _flagged(page: Page, actor: Actor) -> list[tuple[OrgView, list[FlaggedView]]]:
    plane = page.console.plane
    page.console.control.guard(actor, "flagged.read", None)
    found = []
    for org in plane.orgs.list(actor, include_deleted=True):
        records = plane.flagged.list(actor, org.id, limit=PER_ORG)
        if records:
            found.append((org, records))
    return found


async def flagged_page(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    groups = await run_in_threadpool(_flagged, page, viewer.actor)
    return page.render(request, "flagged.html", title="Flagged content", groups=groups)


def split_content(text: str) -> tuple[str, str] | None:
    """The stored (packed) record as (input, output); None when it is not in that form."""
    try:
        packed = unpack(text.encode("utf-8"))
    except (ValueError, KeyError, TypeError):
        return None
    return (packed.request.decode("utf-8", "replace"),
            packed.response.decode("utf-8", "replace"))


async def read(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    record = await run_in_threadpool(page.console.plane.flagged.read, viewer.actor,
                                     request.path_params["record_id"])
    org = await run_in_threadpool(page.console.plane.orgs.show, viewer.actor,
                                  record.record.org_id)
    return page.render(request, "flagged_item.html", title="Flagged content", item=record,
                       org=org, parts=split_content(record.content))
