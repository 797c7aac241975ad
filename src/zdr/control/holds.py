"""Holds placed and released by provider legal and trust & safety people, each audited.

A `legal` person places legal holds, a `trust_safety` person safety holds (an investigation);
the store (`zdr.store.holds`) keeps everything under a standing hold from deletion.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from zdr.control.context import ControlContext, guarded_org
from zdr.control.roles import Actor
from zdr.control.workspaces import find_workspace
from zdr.errors import InvalidRequest, NotFound
from zdr.store import holds as store_holds
from zdr.store.holds import Hold
from zdr.store.tables import exchanges, holds

Scope = Literal["org", "workspace", "exchange"]
MAX_REASON = 2000


def _kind_for(actor: Actor) -> str:
    return "legal" if "legal" in actor.provider_roles else "safety"


class Holds:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def place(
        self, actor: Actor, org: str, reason: str, scope: Scope = "org",
        workspace: str | None = None, exchange_id: str | None = None,
    ) -> Hold:
        if not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidRequest(f"a hold needs a reason of 1 to {MAX_REASON} characters")
        if scope not in ("org", "workspace", "exchange"):
            raise InvalidRequest("a hold's scope is org, workspace or exchange")
        if (scope == "workspace") != (workspace is not None) or \
                (scope == "exchange") != (exchange_id is not None):
            raise InvalidRequest("scope workspace needs a workspace, scope exchange an exchange "
                                 "id, scope org neither")
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "hold.place", org, deleted=None)
            workspace_id = None
            if workspace is not None:
                workspace_id = find_workspace(conn, row.id, workspace).id
            if exchange_id is not None:
                found = conn.execute(select(exchanges.c.id).where(
                    exchanges.c.id == exchange_id, exchanges.c.org_id == row.id)).first()
                if found is None:
                    raise NotFound("exchange not found")
            hold = store_holds.place_hold(
                conn, kind=_kind_for(actor), org_id=row.id, reason=reason,
                placed_by=actor.user_id, now=self.ctx.now(), workspace_id=workspace_id,
                exchange_id=exchange_id,
            )
            self.ctx.record(conn, actor, "hold.place", row.id, hold.id, None,
                            {"kind": hold.kind, "scope": hold.scope,
                             "workspace_id": workspace_id, "exchange_id": exchange_id})
        return hold

    def release(self, actor: Actor, hold_id: str) -> Hold:
        with self.ctx.write() as conn:
            row = conn.execute(select(holds).where(holds.c.id == hold_id)).first()
            if row is None:
                raise NotFound("hold not found")
            self.ctx.guard(actor, "hold.release", row.org_id)
            hold = store_holds.release_hold(conn, hold_id, actor.user_id, self.ctx.now())
            self.ctx.record(conn, actor, "hold.release", row.org_id, hold_id,
                            {"released_at": None}, {"released_at": hold.released_at})
        return hold

    def list(
        self, actor: Actor, org: str | None = None, include_released: bool = False
    ) -> list[Hold]:
        with self.ctx.read() as conn:
            org_id = None
            if org is not None:
                org_id = guarded_org(self.ctx, conn, actor, "hold.read", org, deleted=None).id
            else:
                self.ctx.guard(actor, "hold.read", None)
            query = select(holds).order_by(holds.c.placed_at)
            if org_id is not None:
                query = query.where(holds.c.org_id == org_id)
            if not include_released:
                query = query.where(holds.c.released_at.is_(None))
            rows = conn.execute(query).all()
        return [store_holds.hold_from_row(r) for r in rows]

