"""API keys: created with the secret shown once, listed by prefix only, revoked by prefix."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from zdr.control import lifecycle
from zdr.control.context import ControlContext, guarded_org
from zdr.control.roles import Actor
from zdr.control.views import KeyView, NewSecretView
from zdr.control.workspaces import DEFAULT_WORKSPACE, find_workspace, insert_workspace
from zdr.errors import Conflict, InvalidRequest, NotFound
from zdr.keys import new_api_key
from zdr.store.tables import api_keys, organizations


class ApiKeys:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def create(
        self, actor: Actor, org: str, workspace: str | None = None, kind: str = "api",
        name: str | None = None,
    ) -> NewSecretView:
        """A new key; without `workspace`, the org's `default` workspace (made if missing)."""
        if kind not in self.ctx.catalog.key_kinds:
            kinds = ", ".join(sorted(self.ctx.catalog.key_kinds))
            raise InvalidRequest(f"unknown key kind {kind!r}; one of {kinds}")
        secret = new_api_key()
        key_id = str(uuid.uuid4())
        with self.ctx.write() as conn:
            org_row = guarded_org(self.ctx, conn, actor, "key.create", org)
            self._check_plan(kind, org_row.plan)
            if workspace is None:
                try:
                    ws = find_workspace(conn, org_row.id, DEFAULT_WORKSPACE)
                except NotFound:
                    ws = insert_workspace(self.ctx, conn, org_row.id, DEFAULT_WORKSPACE, None)
            else:
                ws = find_workspace(conn, org_row.id, workspace)
            conn.execute(api_keys.insert().values(
                id=key_id, org_id=org_row.id, workspace_id=ws.id, kind=kind, prefix=secret.prefix,
                key_hash=secret.digest, name=name, created_by=actor.user_id,
                created_at=self.ctx.now(),
            ))
            self.ctx.record(conn, actor, "key.create", org_row.id, secret.prefix, None,
                            {"prefix": secret.prefix, "workspace_id": ws.id, "kind": kind})
        return NewSecretView(id=key_id, prefix=secret.prefix, secret=secret.secret,
                             org_id=org_row.id, workspace_id=ws.id, kind=kind)

    def _check_plan(self, kind: str, plan: str) -> None:
        """Some key kinds belong to some plans only: an Enterprise seat to an enterprise org."""
        catalog = self.ctx.catalog
        allowed = catalog.key_kind_plans.get(kind)
        if allowed is None:
            return
        refusal = lifecycle.plan_refusal(plan, allowed, catalog.messages.key_kind_plan_refused)
        if refusal is not None:
            raise InvalidRequest(refusal.replace("{kind}", kind))

    def list(self, actor: Actor, org: str, workspace: str | None = None) -> list[KeyView]:
        with self.ctx.read() as conn:
            org_row = guarded_org(self.ctx, conn, actor, "key.read", org)
            query = select(api_keys).where(api_keys.c.org_id == org_row.id)
            if workspace is not None:
                query = query.where(
                    api_keys.c.workspace_id == find_workspace(conn, org_row.id, workspace).id)
            rows = conn.execute(query.order_by(api_keys.c.created_at)).all()
        return [KeyView.of(row) for row in rows]

    def revoke(self, actor: Actor, prefix: str) -> KeyView:
        with self.ctx.write() as conn:
            row = conn.execute(select(api_keys).join(
                organizations, organizations.c.id == api_keys.c.org_id
            ).where(api_keys.c.prefix == prefix, organizations.c.erased_at.is_(None))).first()
            if row is None:
                raise NotFound("API key not found")
            self.ctx.guard(actor, "key.revoke", row.org_id)
            if row.revoked_at is not None:
                raise Conflict("the API key is already revoked")
            now = self.ctx.now()
            conn.execute(api_keys.update().where(api_keys.c.id == row.id).values(revoked_at=now))
            self.ctx.record(conn, actor, "key.revoke", row.org_id, prefix,
                            {"revoked_at": None}, {"revoked_at": now})
            view = KeyView.of(conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one())
        self.ctx.changed(row.org_id)
        return view
