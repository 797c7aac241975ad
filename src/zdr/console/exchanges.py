"""Read model of stored exchange metadata for the "why was this kept / not kept" pages.

Only the `exchanges` table (the metadata record class: ids, names, counts, the decision) is read;
never content. Access goes through the control plane's guard with `org.read` on the exchange's
organization, so another organization's people get "not found" as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select

from zdr.control.context import ControlContext, guarded_org
from zdr.control.roles import Actor
from zdr.errors import NotFound
from zdr.store.db import utc
from zdr.store.holds import held as store_held
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
    organizations,
)

LIST_LIMIT = 50


@dataclass(frozen=True, slots=True)
class StoredRecords:
    """Which records of the exchange exist now (after purge), besides its metadata."""

    content: bool
    flagged_content: bool
    classifier_result: bool
    feature_artifacts: tuple[str, ...]
    held: bool


@dataclass(frozen=True, slots=True)
class ExchangeView:
    id: str
    org_id: str
    org_name: str
    workspace_id: str | None
    surface: str
    model: str | None
    features: tuple[str, ...]
    stream: bool
    status_code: int
    outcome: str
    zdr_state: str
    retention: str
    catalog_version: str
    decision: dict[str, Any]
    misuse_exception: bool
    input_tokens: int | None
    output_tokens: int | None
    started_at: datetime
    duration_ms: int | None
    expires_at: datetime

    @classmethod
    def of(cls, row: Any, org_name: str) -> ExchangeView:
        return cls(
            id=row.id, org_id=row.org_id, org_name=org_name, workspace_id=row.workspace_id,
            surface=row.surface, model=row.model, features=tuple(row.features or ()),
            stream=bool(row.stream), status_code=row.status_code, outcome=row.outcome,
            zdr_state=row.zdr_state, retention=row.retention,
            catalog_version=row.catalog_version,
            decision=row.decision if isinstance(row.decision, dict) else {},
            misuse_exception=bool(row.misuse_exception), input_tokens=row.input_tokens,
            output_tokens=row.output_tokens, started_at=utc(row.started_at),
            duration_ms=row.duration_ms, expires_at=utc(row.expires_at),
        )


class ExchangeRecords:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def show(self, actor: Actor, exchange_id: str) -> tuple[ExchangeView, StoredRecords]:
        with self.ctx.read() as conn:
            row = conn.execute(select(exchanges).where(exchanges.c.id == exchange_id)).first()
            if row is None:
                raise NotFound("exchange not found")
            org = guarded_org(self.ctx, conn, actor, "org.read", row.org_id, deleted=None)

            def present(table: Any) -> bool:
                query = select(exists().where(table.c.exchange_id == row.id))
                return bool(conn.execute(query).scalar())

            artifacts = conn.execute(select(feature_artifacts.c.feature).where(
                feature_artifacts.c.exchange_id == row.id)).scalars().all()
            held = conn.execute(
                select(store_held(exchanges)).where(exchanges.c.id == row.id)).scalar()
            records = StoredRecords(
                content=present(contents), flagged_content=present(flagged_contents),
                classifier_result=present(classifier_results),
                feature_artifacts=tuple(sorted(set(artifacts))), held=bool(held),
            )
            return ExchangeView.of(row, org.name), records

    def recent(self, actor: Actor, org: str, limit: int = LIST_LIMIT) -> list[ExchangeView]:
        with self.ctx.read() as conn:
            org_row = guarded_org(self.ctx, conn, actor, "org.read", org, deleted=None)
            rows = conn.execute(
                select(exchanges).where(exchanges.c.org_id == org_row.id)
                .order_by(exchanges.c.started_at.desc()).limit(max(1, min(limit, 500)))
            ).all()
        return [ExchangeView.of(row, org_row.name) for row in rows]


def org_name(ctx: ControlContext, org_id: str) -> str:
    with ctx.read() as conn:
        name = conn.execute(select(organizations.c.name).where(
            organizations.c.id == org_id)).scalar()
    return str(name) if name is not None else org_id
