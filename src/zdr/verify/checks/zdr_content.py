"""No content rows for ZDR-scoped exchanges (docs/DESIGN.md §2 rule 6).

- `contents`: none for an exchange whose ZDR state is `applied` or `partial`;
- `flagged_contents`: only with the misuse exception set on its exchange;
- `feature_artifacts`: only for a feature the exchange's decision names as an artifact.

A content row whose exchange has no metadata row cannot be shown to be outside ZDR: a violation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from zdr.store.tables import contents, exchanges, feature_artifacts, flagged_contents
from zdr.verify.checks.context import StoreContext
from zdr.verify.report import CheckResult

ZDR_STATES = ("applied", "partial")


def artifact_names(decision: Any) -> set[str]:
    if not isinstance(decision, dict):
        return set()
    return {str(a.get("feature")) for a in decision.get("artifacts") or []
            if isinstance(a, dict)}


def check_zdr_content(ctx: StoreContext) -> CheckResult:
    result = CheckResult("zdr_content", "No content kept for ZDR-scoped exchanges")
    with ctx.connect() as conn:
        query = select(contents.c.id, contents.c.exchange_id, exchanges.c.zdr_state).select_from(
            contents.outerjoin(exchanges, exchanges.c.id == contents.c.exchange_id)).where(
            ctx.scope(contents))
        for row in conn.execute(query):
            result.examined += 1
            where = f"contents#{row.id}"
            if row.zdr_state is None:
                result.add(where, f"content of exchange {row.exchange_id} has no metadata row, "
                                  "so nothing shows it is outside ZDR")
            elif row.zdr_state in ZDR_STATES:
                result.add(where, f"content kept for ZDR exchange {row.exchange_id} "
                                  f"(zdr_state {row.zdr_state})")

        query = select(flagged_contents.c.id, flagged_contents.c.exchange_id,
                       exchanges.c.zdr_state, exchanges.c.misuse_exception).select_from(
            flagged_contents.outerjoin(exchanges,
                                       exchanges.c.id == flagged_contents.c.exchange_id)).where(
            ctx.scope(flagged_contents))
        for flagged in conn.execute(query):
            result.examined += 1
            where = f"flagged_contents#{flagged.id}"
            if flagged.zdr_state is None:
                result.add(where, f"flagged content of exchange {flagged.exchange_id} has no "
                                  "metadata row")
            elif not flagged.misuse_exception:
                result.add(where, f"flagged content kept for exchange {flagged.exchange_id} "
                                  f"(zdr_state {flagged.zdr_state}) without the misuse exception")

        query = select(feature_artifacts.c.id, feature_artifacts.c.exchange_id,
                       feature_artifacts.c.feature, exchanges.c.zdr_state,
                       exchanges.c.decision).select_from(
            feature_artifacts.outerjoin(exchanges,
                                        exchanges.c.id == feature_artifacts.c.exchange_id)).where(
            ctx.scope(feature_artifacts))
        for artifact in conn.execute(query):
            result.examined += 1
            where = f"feature_artifacts#{artifact.id}"
            named = artifact_names(artifact.decision)
            if artifact.zdr_state is None:
                result.add(where, f"artifact '{artifact.feature}' of exchange "
                                  f"{artifact.exchange_id} has no metadata row")
            elif artifact.zdr_state in ZDR_STATES and artifact.feature not in named:
                result.add(where, f"artifact '{artifact.feature}' kept for ZDR exchange "
                                  f"{artifact.exchange_id}, but its decision names no such "
                                  "artifact")
    return result
