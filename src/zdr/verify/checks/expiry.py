"""Nothing outlives its period: no record past `expires_at` + the catalog's purge grace, unless an
active hold (org, workspace or exchange scope; `released_at` null) covers it (docs/DESIGN.md §6).
The hold condition is the store's own (`zdr.store.holds.held`), the one purge uses."""

from __future__ import annotations

from sqlalchemy import and_, func, not_, select

from zdr.store.holds import held
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
    upstream_resources,
)
from zdr.verify.checks.context import StoreContext
from zdr.verify.report import CheckResult

EXPIRING = (exchanges, contents, flagged_contents, classifier_results, feature_artifacts,
            upstream_resources)   # ownership of upstream batches (29 days; files: until deleted)


def check_expiry(ctx: StoreContext) -> CheckResult:
    result = CheckResult("expiry", "No record kept past its expiry and grace unless held")
    cutoff = ctx.db_time(ctx.now - ctx.grace)
    result.notes.append(f"grace {int(ctx.grace.total_seconds())} s: records that expired before "
                        f"{cutoff:%Y-%m-%d %H:%M:%S} UTC must be gone unless held")
    with ctx.connect() as conn:
        for table in EXPIRING:
            result.examined += conn.execute(select(func.count()).select_from(table)
                                            .where(ctx.scope(table))).scalar_one()
            overdue = and_(ctx.scope(table), table.c.expires_at.is_not(None),
                           table.c.expires_at < cutoff)
            query = select(table.c.id, table.c.expires_at).where(overdue, not_(held(table)))
            for row in conn.execute(query):
                result.add(f"{table.name}#{row.id}",
                           f"expired at {row.expires_at} and no active hold covers it")
    return result
