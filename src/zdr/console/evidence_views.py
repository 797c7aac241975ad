"""Settings > Privacy Controls > Evidence: the deployment's public signing key, the org's signed
statements and receipts to download, issuing a statement for a period, and exchanges per day by
retention label (a server-drawn SVG chart).

Everything goes through the control services with the viewer's actor: reading needs
`evidence.read` on the org, issuing `evidence.issue`; another org's people get "not found".
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.charts import stacked_bars
from zdr.console.web import Page, org_id_param
from zdr.control.organizations import Organizations
from zdr.control.roles import Actor
from zdr.errors import DatabaseUnavailable, NotFound, ZdrError
from zdr.proof.signing import load_public_key
from zdr.proof.statements import exchanges_per_day

CHART_DAYS = 14


def fingerprint(pem: str) -> str:
    """SHA-256 of the raw public key, in groups of four hex digits (its first 16: the key id)."""
    from cryptography.hazmat.primitives import serialization

    raw = load_public_key(pem).public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def _context(page: Page, actor: Actor, org_id: str) -> dict[str, Any]:
    control, plane = page.console.control, page.console.plane
    org = Organizations(control).show(actor, org_id)
    control.guard(actor, "evidence.read", org.id)
    documents = plane.evidence.log(actor, org.id, 20)
    keys = [{"key_id": k.key_id, "pem": k.pem, "fingerprint": fingerprint(k.pem),
             "created_at": k.created_at, "retired_at": k.retired_at}
            for k in plane.evidence.public_keys()]
    today = control.now().astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    with control.read() as conn:
        counts = exchanges_per_day(conn, org.id, datetime.combine(days[0], time(), UTC),
                                   datetime.combine(today + timedelta(days=1), time(), UTC))
    by_day = {(date.fromisoformat(d), label): n for (d, label), n in counts.items()}
    return {"org": {"id": org.id, "name": org.name, "plan": org.plan}, "keys": keys,
            "documents": documents, "chart": stacked_bars(days, by_day),
            "default_since": (today - timedelta(days=30)).isoformat(),
            "default_until": today.isoformat()}


async def evidence_page(request: Request, page: Page, *, errors: dict[str, str] | None = None,
                        status: int = 200) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    context = await run_in_threadpool(_context, page, viewer.actor, org_id)
    return page.render(request, "evidence.html", status, title="Evidence",
                       may_issue=viewer.may("evidence.issue", org_id), errors=errors or {},
                       **context)


def _day(text: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        return None


async def issue(request: Request, page: Page) -> Response:
    """Sign a statement for [since, until + 1 day) and list it (the download is on the page)."""
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    since, until = _day(page.field("since", 10)), _day(page.field("until", 10))
    errors: dict[str, str] = {}
    if since is None:
        errors["since"] = "Give the first day as YYYY-MM-DD."
    if until is None:
        errors["until"] = "Give the last day as YYYY-MM-DD."
    if since is not None and until is not None and until < since:
        errors["until"] = "The last day cannot be before the first."
    if not errors:
        assert since is not None and until is not None
        try:
            await run_in_threadpool(page.console.plane.evidence.issue_statement, viewer.actor,
                                    org_id, since, until + timedelta(days=1))
        except DatabaseUnavailable:     # the outage page (zdr.console.app)
            raise
        except ZdrError as error:
            if error.status in (403, 404):
                raise
            errors["since"] = error.message
    if errors:
        return await evidence_page(request, page, errors=errors, status=400)
    return page.redirect(f"/orgs/{org_id}/evidence", "statement-issued")


async def download(request: Request, page: Page) -> Response:
    """One signed document, byte for byte, as a file."""
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    seq = int(request.path_params["seq"])
    entry = await run_in_threadpool(page.console.plane.evidence.document, viewer.actor, seq)
    if entry.org_id != org_id:
        raise NotFound("no such document")
    name = f"zdr-{entry.kind}-{entry.seq}.json"
    return Response(entry.document.encode("utf-8"), media_type="application/json",
                    headers={"content-disposition": f'attachment; filename="{name}"'})
