"""Organizations: create, list, show, delete (restorable for the catalog's window) and restore.

Erasure after the window (crypto-shredding the org's data key, deleting rows) is the store's job
(`zdr.store.deletion`); this service marks the deletion, audits it and undoes it within the window.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from zdr.control.context import ControlContext, find_org, guarded_org
from zdr.control.keyring import create_org_key
from zdr.control.org_names import name_key, normalize_name
from zdr.control.roles import Actor
from zdr.control.views import OrgView
from zdr.errors import Conflict, InvalidRequest
from zdr.store.db import utc
from zdr.store.tables import organizations

TAKEN = ("an organization with this name already exists (names are compared ignoring case and "
         "look-alike characters)")


class Organizations:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def _view(self, row: object) -> OrgView:
        return OrgView.of(row, self.ctx.catalog, self.ctx.now())

    def create(self, actor: Actor, name: str, plan: str) -> OrgView:
        """A new organization; its name as `org_names.normalize_name` makes it, unique among
        every organization's name (ignoring case and look-alike forms) and id."""
        self.ctx.guard(actor, "org.create", None)
        name = normalize_name(name)
        if plan not in self.ctx.catalog.plans:
            plans = ", ".join(sorted(self.ctx.catalog.plans))
            raise InvalidRequest(f"unknown plan {plan!r}; one of {plans}")
        org_id = str(uuid.uuid4())
        try:
            with self.ctx.write() as conn:
                self._refuse_taken(conn, name)
                conn.execute(organizations.insert().values(
                    id=org_id, name=name, name_key=name_key(name), plan=plan,
                    created_at=self.ctx.now(), zdr_status="none", hipaa=False,
                ))
                create_org_key(self.ctx, conn, org_id)
                row = find_org(conn, org_id)
                view = self._view(row)
                self.ctx.record(conn, actor, "org.create", org_id, name, None,
                                {"name": name, "plan": plan})
        except IntegrityError:
            raise Conflict(TAKEN) from None
        return view

    @staticmethod
    def _refuse_taken(conn: Connection, name: str) -> None:
        """Another organization (live, deleted or erased) has this name, or this as its id."""
        taken = conn.execute(select(organizations.c.id).where(
            organizations.c.name_key == name_key(name))).first()
        if taken is None:
            taken = conn.execute(select(organizations.c.id).where(
                organizations.c.id == name)).first()
        if taken is not None:
            raise Conflict(TAKEN)

    def list(self, actor: Actor, *, include_deleted: bool = False) -> list[OrgView]:
        """Every org for provider roles; only their own orgs for org people."""
        query = select(organizations).where(organizations.c.erased_at.is_(None))
        if not include_deleted:
            query = query.where(organizations.c.deleted_at.is_(None))
        if not actor.is_provider:
            query = query.where(organizations.c.id.in_(list(actor.org_roles)))
        with self.ctx.read() as conn:
            rows = conn.execute(query.order_by(organizations.c.name)).all()
        return [self._view(row) for row in rows]

    def show(self, actor: Actor, ref: str) -> OrgView:
        with self.ctx.read() as conn:
            return self._view(guarded_org(self.ctx, conn, actor, "org.read", ref, deleted=None))

    def delete(self, actor: Actor, ref: str) -> OrgView:
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "org.delete", ref)
            now = self.ctx.now()
            conn.execute(organizations.update().where(organizations.c.id == row.id)
                         .values(deleted_at=now))
            view = self._view(find_org(conn, row.id, deleted=True))
            self.ctx.record(conn, actor, "org.delete", row.id, row.name, {"deleted_at": None},
                            {"deleted_at": now, "restorable_until": view.restorable_until})
        self.ctx.changed(row.id)
        return view

    def restore(self, actor: Actor, ref: str) -> OrgView:
        with self.ctx.write() as conn:
            row = guarded_org(self.ctx, conn, actor, "org.restore", ref, deleted=None)
            if row.deleted_at is None:
                raise Conflict("the organization is not deleted")
            window = timedelta(days=self.ctx.catalog.retention.deletion_restore_days)
            if self.ctx.now() > utc(row.deleted_at) + window:
                raise Conflict("the restore window of this organization has passed")
            conn.execute(organizations.update().where(organizations.c.id == row.id)
                         .values(deleted_at=None))
            view = self._view(find_org(conn, row.id))
            self.ctx.record(conn, actor, "org.restore", row.id, row.name,
                            {"deleted_at": row.deleted_at}, {"deleted_at": None})
        self.ctx.changed(row.id)
        return view
