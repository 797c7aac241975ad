"""Arrangements of one organization: the ZDR lifecycle, HIPAA (BAA) and its retention period.

Each method applies one transition, persists it and audits it in one serialized transaction, and
touches exactly one organization: siblings and new orgs never inherit anything.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select

from zdr.control import lifecycle
from zdr.control.context import ControlContext, guarded_org
from zdr.control.roles import Actor
from zdr.control.views import OrgView, ZdrRequestView
from zdr.errors import Conflict, InvalidRequest
from zdr.store.db import utc
from zdr.store.purge import shorten_retention
from zdr.store.tables import organizations, zdr_requests

MAX_TEXT = 2000
CLOCK_SKEW = timedelta(minutes=1)


def _text(value: str | None, what: str) -> str | None:
    if value is not None and len(value) > MAX_TEXT:
        raise InvalidRequest(f"the {what} is longer than {MAX_TEXT} characters")
    return value or None


class Arrangements:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ helpers
    def _view(self, conn: Connection, org_id: str) -> OrgView:
        row = conn.execute(select(organizations).where(organizations.c.id == org_id)).one()
        return OrgView.of(row, self.ctx.catalog, self.ctx.now())

    def _refusal(self, plan: str) -> str | None:
        """Why an org on `plan` cannot hold ZDR (only api and enterprise orgs can), or None."""
        catalog = self.ctx.catalog
        return lifecycle.plan_refusal(plan, catalog.zdr_plans, catalog.messages.zdr_plan_refused)

    def _open_request(self, conn: Connection, org_id: str, status: str) -> Row[Any] | None:
        return conn.execute(
            select(zdr_requests).where(zdr_requests.c.org_id == org_id,
                                       zdr_requests.c.status == status)
            .order_by(zdr_requests.c.requested_at.desc()).limit(1)
        ).first()

    def _state(self, org: Row[Any], request: Row[Any] | None) -> lifecycle.ZdrState:
        return lifecycle.ZdrState(
            status=org.zdr_status,
            effective_at=None if org.zdr_effective_at is None else utc(org.zdr_effective_at),
            requested_by=None if request is None else request.requested_by,
        )

    def _set_org(self, conn: Connection, org_id: str, **values: Any) -> None:
        conn.execute(organizations.update().where(organizations.c.id == org_id).values(**values))

    # ------------------------------------------------------------------ ZDR
    def request_zdr(self, actor: Actor, org: str, reason: str | None = None) -> OrgView:
        reason = _text(reason, "reason")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "zdr.request", org)
            state = lifecycle.request(self._state(row, None), refusal=self._refusal(row.plan),
                                      requester=actor.user_id)
            now = self.ctx.now()
            conn.execute(zdr_requests.insert().values(
                id=str(uuid.uuid4()), org_id=row.id, status="requested", reason=reason,
                requested_by=actor.user_id, requested_at=now,
            ))
            self._set_org(conn, row.id, zdr_status=state.status, zdr_effective_at=None)
            self.ctx.record(conn, actor, "zdr.request", row.id, row.name,
                            {"zdr_status": row.zdr_status}, {"zdr_status": state.status})
            view = self._view(conn, row.id)
        self.ctx.changed(row.id)
        return view

    def approve_zdr(
        self, actor: Actor, org: str, effective_at: datetime | None = None, note: str | None = None
    ) -> OrgView:
        note = _text(note, "note")
        now = self.ctx.now()
        effective = now if effective_at is None else utc(effective_at)
        if effective < now - CLOCK_SKEW:
            raise InvalidRequest("effective_at must not be in the past")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "zdr.approve", org)
            request = self._open_request(conn, row.id, "requested")
            state = lifecycle.approve(self._state(row, request), refusal=self._refusal(row.plan),
                                      reviewer=actor.user_id, effective_at=effective)
            self._decide(conn, actor, row, request, state, note, "zdr.approve")
            view = self._view(conn, row.id)
        self.ctx.changed(row.id)
        return view

    def deny_zdr(self, actor: Actor, org: str, note: str | None = None) -> OrgView:
        note = _text(note, "note")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "zdr.deny", org)
            request = self._open_request(conn, row.id, "requested")
            state = lifecycle.deny(self._state(row, request), reviewer=actor.user_id)
            self._decide(conn, actor, row, request, state, note, "zdr.deny")
            view = self._view(conn, row.id)
        self.ctx.changed(row.id)
        return view

    def revoke_zdr(self, actor: Actor, org: str, note: str | None = None) -> OrgView:
        note = _text(note, "note")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "zdr.revoke", org)
            request = self._open_request(conn, row.id, "approved")
            state = lifecycle.revoke(self._state(row, request))
            self._decide(conn, actor, row, request, state, note, "zdr.revoke")
            view = self._view(conn, row.id)
        self.ctx.changed(row.id)
        return view

    def _decide(
        self, conn: Connection, actor: Actor, org: Row[Any], request: Row[Any] | None,
        state: lifecycle.ZdrState, note: str | None, action: str,
    ) -> None:
        now = self.ctx.now()
        if request is not None:
            conn.execute(zdr_requests.update().where(zdr_requests.c.id == request.id).values(
                status=state.status, decided_by=actor.user_id, decided_at=now, note=note,
                effective_at=state.effective_at,
            ))
        self._set_org(conn, org.id, zdr_status=state.status, zdr_effective_at=state.effective_at)
        self.ctx.record(
            conn, actor, action, org.id, org.name,
            {"zdr_status": org.zdr_status, "zdr_effective_at": org.zdr_effective_at},
            {"zdr_status": state.status, "zdr_effective_at": state.effective_at},
        )

    def zdr_history(self, actor: Actor, org: str) -> list[ZdrRequestView]:
        with self.ctx.read() as conn:
            row = guarded_org(self.ctx, conn, actor, "org.read", org)
            rows = conn.execute(select(zdr_requests).where(zdr_requests.c.org_id == row.id)
                                .order_by(zdr_requests.c.requested_at)).all()
        return [ZdrRequestView.of(r) for r in rows]

    # ------------------------------------------------------------------ HIPAA
    def accept_baa(self, actor: Actor, org: str, version: str) -> OrgView:
        """Accept a named BAA version: HIPAA is on from now on, for good."""
        version = version.strip()
        if not version or len(version) > 50:
            raise InvalidRequest("a BAA version is 1 to 50 characters")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "hipaa.accept_baa", org)
            catalog = self.ctx.catalog
            refusal = lifecycle.plan_refusal(row.plan, catalog.zdr_plans,
                                             catalog.messages.baa_plan_refused)
            if refusal is not None:       # the BAA covers api and enterprise orgs only
                raise InvalidRequest(refusal)
            if row.hipaa and row.baa_version == version:
                raise Conflict(f"BAA version {version} is already accepted")
            self._set_org(conn, row.id, hipaa=True, baa_version=version,
                          hipaa_accepted_at=self.ctx.now())
            self.ctx.record(conn, actor, "hipaa.accept_baa", row.id, row.name,
                            {"hipaa": bool(row.hipaa), "baa_version": row.baa_version},
                            {"hipaa": True, "baa_version": version})
            view = self._view(conn, row.id)
        self.ctx.changed(row.id)
        return view

    def disable_hipaa(self, actor: Actor, org: str) -> OrgView:
        """There is no way to turn HIPAA off: this always refuses (after the usual checks)."""
        with self.ctx.read() as conn:
            row = guarded_org(self.ctx, conn, actor, "hipaa.accept_baa", org)
        if row.hipaa:
            raise Conflict("HIPAA cannot be turned off once a BAA has been accepted")
        raise Conflict("HIPAA is not enabled for this organization")

    # ------------------------------------------------------------------ retention
    def set_retention(
        self, actor: Actor, org: str, days: int, *, confirm_shorten: bool = False
    ) -> OrgView:
        """Set an enterprise org's custom retention period (days >= the catalog minimum).

        Shortening deletes content older than the new period at once, so it needs
        `confirm_shorten=True`. The new period and its audit entry commit first; then the store's
        `shorten_retention` deletes the older content and re-dates the rest (holds win, longer
        workspace overrides keep their period).
        """
        periods = self.ctx.catalog.retention
        if not periods.custom_min_days <= days <= periods.max_days:
            raise InvalidRequest(
                f"a custom retention period is between {periods.custom_min_days} and "
                f"{periods.max_days} days")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "retention.set", org)
            if row.plan != "enterprise":
                raise InvalidRequest(
                    f"a custom retention period is for enterprise organizations; "
                    f"the plan is {row.plan}")
            current = row.retention_days or periods.default_content_days
            shorter = days < current
            if shorter and not confirm_shorten:
                raise Conflict(
                    f"shortening retention from {current} to {days} days deletes older "
                    "content at once; confirm to proceed")
            self._set_org(conn, row.id, retention_days=days)
            self.ctx.record(conn, actor, "retention.set", row.id, row.name,
                            {"retention_days": row.retention_days},
                            {"retention_days": days, "older_content_deleted": shorter})
            view = self._view(conn, row.id)
        if shorter:
            shorten_retention(self.ctx.engine, row.id, days, self.ctx.now())
        self.ctx.changed(row.id)
        return view
