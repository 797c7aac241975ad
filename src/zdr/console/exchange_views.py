"""Why was this kept / not kept: one exchange's stored decision, with its rules and reasons.

The words come from `zdr.policy.explain` (the same as `zdr explain` and the CLI). Nothing but the
exchange's metadata is read: there is no content on these pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from zdr.console.exchanges import ExchangeRecords, ExchangeView, StoredRecords
from zdr.console.privacy import when
from zdr.console.web import Page, org_id_param
from zdr.policy.decision import RECORD_CLASSES
from zdr.policy.explain import ZDR_WORDS, describe_keep

RECORD_LABELS = {
    "metadata": "Metadata (ids, model, feature names, token counts, this decision)",
    "content": "Content (inputs and outputs)",
    "flagged_content": "Flagged content (only if the safety classifier flags it)",
    "classifier_result": "Safety classifier result (scores and labels)",
    "feature_artifact": "Feature artifacts (batch, file, container, schema…)",
}


@dataclass(frozen=True, slots=True)
class PlanRow:
    record_class: str
    label: str
    planned: str
    until: str
    stored_now: str


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule_id: str
    reason: str


def plan_rows(view: ExchangeView, records: StoredRecords) -> list[PlanRow]:
    keep = view.decision.get("keep", {})
    stored = {
        "metadata": True,
        "content": records.content,
        "flagged_content": records.flagged_content,
        "classifier_result": records.classifier_result,
        "feature_artifact": bool(records.feature_artifacts),
    }
    rows = []
    for record_class in RECORD_CLASSES:
        plan = keep.get(record_class, {"kept": False, "days": None})
        kept, days = bool(plan.get("kept")), plan.get("days")
        until = _until(view.started_at, days) if kept else "—"
        rows.append(PlanRow(record_class, RECORD_LABELS[record_class],
                            describe_keep(days, kept), until,
                            "yes" if stored[record_class] else "no"))
    return rows


def _until(start: datetime, days: object) -> str:
    if days is None:
        return "until deleted"
    return when(start + timedelta(days=int(days))) if isinstance(days, int) else "—"


def rule_rows(decision: dict[str, object]) -> list[RuleRow]:
    ids = decision.get("rules") or []
    reasons = decision.get("reasons") or []
    if not isinstance(ids, list) or not isinstance(reasons, list):
        return []
    return [RuleRow(str(i), str(r)) for i, r in zip(ids, reasons, strict=False)]


async def why(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    records_service = ExchangeRecords(page.console.control)
    view, records = await run_in_threadpool(records_service.show, viewer.actor,
                                            request.path_params["exchange_id"])
    zdr = str(view.decision.get("zdr", view.zdr_state))
    return page.render(
        request, "exchange.html", title="Why was this kept?", exchange=view, records=records,
        plan=plan_rows(view, records), rules=rule_rows(view.decision),
        zdr_words=ZDR_WORDS.get(zdr, zdr), error=view.decision.get("error"),
        artifacts=view.decision.get("artifacts") or [],
    )


async def org_exchanges(request: Request, page: Page) -> Response:
    viewer = page.signed_in_viewer
    org_id = org_id_param(request)
    rows = await run_in_threadpool(ExchangeRecords(page.console.control).recent, viewer.actor,
                                   org_id)
    org = await run_in_threadpool(page.console.plane.orgs.show, viewer.actor, org_id)
    return page.render(request, "exchanges.html", title="Recent requests", org=org, rows=rows)
