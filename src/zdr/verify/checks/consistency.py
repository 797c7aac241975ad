"""Decision/record consistency: each stored record is of a class its exchange's decision keeps,
expires when that plan says, and the plan follows from the catalog version the decision names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, Text, cast, select

from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
    organizations,
)
from zdr.verify.checks.context import (
    EXPIRY_TOLERANCE,
    UNTIL_DELETED_FROM,
    StoreContext,
    as_utc,
)
from zdr.verify.checks.plan import plan_problems
from zdr.verify.report import CheckResult

RECORD_TABLES: tuple[tuple[Table, str], ...] = (
    (contents, "content"),
    (flagged_contents, "flagged_content"),
    (classifier_results, "classifier_result"),
    (feature_artifacts, "feature_artifact"),
)
UNEVALUATED = "unavailable"   # catalog version of a fail-closed decision (no catalog loaded)


class _Plans:
    """Checks each distinct decision against its catalog once (decisions repeat a lot)."""

    def __init__(self, ctx: StoreContext, result: CheckResult) -> None:
        self.ctx, self.result = ctx, result
        self.seen: dict[bytes, list[str]] = {}

    def problems(self, decision: Any) -> list[str]:
        if not isinstance(decision, dict):
            return ["decision is not a JSON object"]
        key = orjson.dumps(decision, option=orjson.OPT_SORT_KEYS)
        if key not in self.seen:
            version = str(decision.get("catalog_version"))
            catalog = self.ctx.library.get(version)
            if version == UNEVALUATED:
                self.seen[key] = []
            elif catalog is None:
                self.seen[key] = [f"names catalog version {version}, which verify cannot find "
                                  "(keep old catalogs in HOME/catalogs/)"]
            else:
                self.seen[key] = plan_problems(decision, catalog)
        return self.seen[key]


def _days(decision: Any, record_class: str, feature: str | None) -> tuple[bool, int | None]:
    if feature is not None:
        for artifact in decision.get("artifacts") or []:
            if artifact.get("feature") == feature:
                return True, artifact.get("days")
        return False, None
    entry = (decision.get("keep") or {}).get(record_class) or {}
    return bool(entry.get("kept")), entry.get("days")


def _expiry_problem(
    expires_at: datetime | None, days: int | None, started: datetime, written: datetime | None,
    may_be_earlier: bool,
) -> str | None:
    forever = expires_at is None or as_utc(expires_at) >= UNTIL_DELETED_FROM
    if days is None:
        return None if forever else "kept until deleted, yet it has an expiry"
    if expires_at is None or forever:
        return f"plan keeps it {days} days, yet it never expires"
    expires = as_utc(expires_at)
    latest = max(started, written or started) + timedelta(days=days) + EXPIRY_TOLERANCE
    earliest = started + timedelta(days=days) - EXPIRY_TOLERANCE
    if expires > latest:
        return f"expires {expires:%Y-%m-%d %H:%M}, later than its plan of {days} days"
    if expires < earliest and not may_be_earlier:
        return f"expires {expires:%Y-%m-%d %H:%M}, earlier than its plan of {days} days"
    return None


def _judged(plans: _Plans, row: Any) -> tuple[list[str], tuple[bool, int | None]]:
    """What is wrong with an exchange row's decision and the columns taken from it, and
    whether (and how long) its plan keeps metadata."""
    try:
        decision = orjson.loads(row.decision) if row.decision is not None else None
    except orjson.JSONDecodeError:
        decision = row.decision
    problems = [f"decision: {c}" for c in plans.problems(decision)]
    if not isinstance(decision, dict):
        return problems, (False, None)
    columns = {"zdr_state": (row.zdr_state, decision.get("zdr")),
               "catalog_version": (row.catalog_version, decision.get("catalog_version")),
               "retention": (row.retention, decision.get("retention"))}
    for column, (stored, decided) in columns.items():
        if stored != decided:
            problems.append(f"{column} '{stored}' differs from its decision's '{decided}'")
    return problems, _days(decision, "metadata", None)


def check_consistency(ctx: StoreContext) -> CheckResult:
    result = CheckResult("consistency", "Every record matches its decision's plan and catalog")
    plans = _Plans(ctx, result)
    shortened = organizations.c.deleted_at.is_not(None) | organizations.c.retention_days.is_not(
        None)
    with ctx.connect() as conn:
        # The decision as text: rows share a few decisions, so each distinct (decision, stored
        # columns) is parsed and judged once (bench/attest.py: a signed statement runs this
        # check over an org's million exchanges).
        query = select(exchanges.c.id, cast(exchanges.c.decision, Text).label("decision"),
                       exchanges.c.zdr_state, exchanges.c.catalog_version,
                       exchanges.c.retention, exchanges.c.started_at, exchanges.c.expires_at,
                       ).where(ctx.scope(exchanges))
        verdicts: dict[tuple[Any, ...], tuple[list[str], tuple[bool, int | None]]] = {}
        for row in conn.execution_options(yield_per=5000).execute(query):
            result.examined += 1
            key = (row.decision, row.zdr_state, row.catalog_version, row.retention)
            verdict = verdicts.get(key)
            if verdict is None:
                if len(verdicts) > 4096:
                    verdicts.clear()
                verdict = verdicts[key] = _judged(plans, row)
            problems, (kept, days) = verdict
            if problems:
                where = f"exchanges#{row.id}"
                for problem in problems:
                    result.add(where, problem)
            if kept:
                late = _expiry_problem(row.expires_at, days, as_utc(row.started_at), None, False)
                if late:
                    result.add(f"exchanges#{row.id}", f"metadata {late}")

        for table, record_class in RECORD_TABLES:
            feature = table.c.feature if table is feature_artifacts else None
            query = select(table.c.id, table.c.exchange_id, table.c.created_at,
                           table.c.expires_at, exchanges.c.decision, exchanges.c.started_at,
                           shortened.label("shortened"),
                           *([feature] if feature is not None else [])).select_from(
                table.join(exchanges, exchanges.c.id == table.c.exchange_id)
                .outerjoin(organizations, organizations.c.id == table.c.org_id)).where(
                ctx.scope(table))
            for row in conn.execute(query):
                result.examined += 1
                where = f"{table.name}#{row.id}"
                decision = row.decision
                if not isinstance(decision, dict):
                    continue
                name = row.feature if feature is not None else None
                kept, days = _days(decision, record_class, name)
                if not kept:
                    what = f"artifact '{name}'" if name else record_class
                    result.add(where, f"{what} stored, but the decision of exchange "
                                      f"{row.exchange_id} does not keep it")
                    continue
                wrong = _expiry_problem(row.expires_at, days, as_utc(row.started_at),
                                        as_utc(row.created_at), bool(row.shortened))
                if wrong:
                    result.add(where, wrong)
    return result
