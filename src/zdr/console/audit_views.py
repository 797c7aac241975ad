"""The audit log, newest first, with the hash chain's verification status.

Provider admins and legal see every entry and the chain check (`audit.verify`); an organization's
owners and admins see their organization's entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.web import Page, org_id_param
from zdr.control.audit import AuditEntry, ChainReport
from zdr.control.roles import Actor

PAGE_SIZE = 100
ORG_SCAN = 1000


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    before: str | None      # None: the field had no earlier value recorded
    after: str


@dataclass(frozen=True, slots=True)
class EntryRow:
    entry: AuditEntry
    changes: tuple[Change, ...]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value[:200]
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()[:200]


def changes(before: Any, after: Any) -> tuple[Change, ...]:
    """An entry's before/after as one line per field (whole values when they are not objects)."""
    if before is None and isinstance(after, dict):
        return tuple(Change(k, None, _text(v)) for k, v in sorted(after.items())
                     if v not in (None, [], {}))
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and after is None:
            return ()
        return (Change("value", None if before is None else _text(before), _text(after)),)
    found = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key in before and old == new:
            continue
        found.append(Change(key, _text(old) if key in before else None, _text(new)))
    return tuple(found)


def _rows(entries: list[AuditEntry]) -> list[EntryRow]:
    return [EntryRow(e, changes(e.before, e.after)) for e in reversed(entries)]


def _all(page: Page, actor: Actor, before_seq: int | None) -> dict[str, Any]:
    audit = page.console.plane.audit
    report: ChainReport | None = None
    if page.signed_in_viewer.may("audit.verify", None):
        report = audit.verify(actor)
        total = report.entries
    else:
        total = len(audit.list(actor, limit=1000))
    end = total if before_seq is None else max(0, min(before_seq - 1, total))
    start = max(0, end - PAGE_SIZE)
    entries = audit.list(actor, after_seq=start, limit=end - start) if end > start else []
    return {"report": report, "rows": _rows(entries),
            "older": start if start > 0 else None, "total": total}


async def audit_page(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    raw = request.query_params.get("before", "")
    before_seq = int(raw) if raw.isdigit() else None
    context = await run_in_threadpool(_all, page, viewer.actor, before_seq)
    return page.render(request, "audit.html", title="Audit log", org=None, **context)


def _org(page: Page, actor: Actor, org_id: str) -> dict[str, Any]:
    plane = page.console.plane
    org = plane.orgs.show(actor, org_id)
    entries = plane.audit.list(actor, org.id, limit=ORG_SCAN)
    return {"org": org, "rows": _rows(entries[-PAGE_SIZE:]), "report": None, "older": None,
            "total": len(entries)}


async def org_audit(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    context = await run_in_threadpool(_org, page, viewer.actor, org_id_param(request))
    return page.render(request, "audit.html", title="Audit log", **context)
