"""Workspaces: parts of an organization that own API keys and may override its retention."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row, or_, select
from sqlalchemy.exc import IntegrityError

from zdr.control.context import ControlContext, guarded_org
from zdr.control.roles import Actor
from zdr.control.views import WorkspaceView
from zdr.errors import Conflict, InvalidRequest, NotFound
from zdr.store.tables import workspaces

DEFAULT_WORKSPACE = "default"


def find_workspace(conn: Connection, org_id: str, ref: str) -> Row[Any]:
    row = conn.execute(select(workspaces).where(
        workspaces.c.org_id == org_id, or_(workspaces.c.id == ref, workspaces.c.name == ref)
    )).first()
    if row is None:
        raise NotFound("workspace not found")
    return row


def insert_workspace(
    ctx: ControlContext, conn: Connection, org_id: str, name: str, override: int | None
) -> Row[Any]:
    workspace_id = str(uuid.uuid4())
    conn.execute(workspaces.insert().values(
        id=workspace_id, org_id=org_id, name=name, retention_override_days=override,
        created_at=ctx.now(),
    ))
    return find_workspace(conn, org_id, workspace_id)


class Workspaces:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def check_override(self, days: int | None) -> None:
        periods = self.ctx.catalog.retention
        if days is not None and not periods.custom_min_days <= days <= periods.max_days:
            raise InvalidRequest(
                f"a workspace retention override is between {periods.custom_min_days} and "
                f"{periods.max_days} days"
            )

    def create(
        self, actor: Actor, org: str, name: str, retention_override_days: int | None = None
    ) -> WorkspaceView:
        name = name.strip()
        if not name:
            raise InvalidRequest("a workspace needs a name")
        self.check_override(retention_override_days)
        try:
            with self.ctx.write() as conn:
                org_row = guarded_org(self.ctx, conn, actor, "workspace.create", org)
                view = WorkspaceView.of(
                    insert_workspace(self.ctx, conn, org_row.id, name, retention_override_days))
                self.ctx.record(conn, actor, "workspace.create", org_row.id, view.id, None,
                                {"name": name, "retention_override_days": retention_override_days})
        except IntegrityError:
            raise Conflict(f"the organization already has a workspace named {name!r}") from None
        self.ctx.changed(org_row.id)
        return view

    def list(self, actor: Actor, org: str) -> list[WorkspaceView]:
        with self.ctx.read() as conn:
            org_row = guarded_org(self.ctx, conn, actor, "workspace.read", org)
            rows = conn.execute(select(workspaces).where(workspaces.c.org_id == org_row.id)
                                .order_by(workspaces.c.name)).all()
        return [WorkspaceView.of(row) for row in rows]

    def set_retention(
        self, actor: Actor, org: str, workspace: str, retention_override_days: int | None
    ) -> WorkspaceView:
        """Set (or clear, with None) a workspace's retention override."""
        self.check_override(retention_override_days)
        with self.ctx.write() as conn:
            org_row = guarded_org(self.ctx, conn, actor, "workspace.set_retention", org)
            row = find_workspace(conn, org_row.id, workspace)
            conn.execute(workspaces.update().where(workspaces.c.id == row.id)
                         .values(retention_override_days=retention_override_days))
            view = WorkspaceView.of(find_workspace(conn, org_row.id, row.id))
            self.ctx.record(conn, actor, "workspace.set_retention", org_row.id, row.id,
                            {"retention_override_days": row.retention_override_days},
                            {"retention_override_days": retention_override_days})
        self.ctx.changed(org_row.id)
        return view
