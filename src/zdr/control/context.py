"""What every control-plane service shares: the database, the catalog, the clock, the guard.

`ControlContext.guard` is the single place where the service layer applies `authorize`: org people
asking about another organization get "not found" (they may not learn it exists); anyone else
lacking the role gets "permission denied" with the verdict's reason. `ControlContext.write` opens
one serialized transaction per action, in which the change and its audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from zdr.catalog.schema import Catalog
from zdr.control import audit
from zdr.control.org_names import OrgId, canonical_id, name_key, reference
from zdr.control.roles import SYSTEM_ACTOR_ID, Actor, authorize
from zdr.errors import NotFound, PermissionDenied
from zdr.store.db import read_only
from zdr.store.tables import organizations


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ControlContext:
    engine: Engine
    catalog: Catalog
    clock: Callable[[], datetime] = _utc_now
    keyring: Any | None = None                     # zdr.store.crypto.Keyring, when configured
    on_change: Callable[[str], None] | None = None  # org id -> invalidate gateway caches

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with audit.serialized(self.engine) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield read_only(conn)

    def guard(self, actor: Actor, action: str, org_id: str | None) -> None:
        verdict = authorize(actor, action, org_id)
        if verdict.allowed:
            return
        if verdict.hide:
            raise NotFound("organization not found")
        raise PermissionDenied(f"permission denied: {verdict.reason}")

    def record(
        self, conn: Connection, actor: Actor, action: str, org_id: str | None,
        target: str | None = None, before: Any = None, after: Any = None,
    ) -> audit.AuditEntry:
        return audit.append(
            conn, actor=actor_name(actor), role=actor.role_label(org_id), org_id=org_id,
            action=action, target=target, before=before, after=after, at=self.now(),
        )

    def changed(self, org_id: str) -> None:
        """Tell the gateway (if wired in this process) that an org's arrangements changed."""
        if self.on_change is not None:
            self.on_change(org_id)


def actor_name(actor: Actor) -> str:
    return f"system:{actor.email}" if actor.user_id == SYSTEM_ACTOR_ID else actor.email


def find_org(conn: Connection, ref: str, *, deleted: bool | None = False) -> Row[Any]:
    """The organization `ref` names: an `OrgId`, an `OrgName`, or a plain string read by its shape
    (`zdr.control.org_names`). One column is searched, never either of two.
    `deleted`: False live only, True deleted only, None both."""
    typed = reference(ref)
    if isinstance(typed, OrgId):
        org_id = canonical_id(typed)
        if org_id is None:
            raise NotFound("organization not found")
        query = select(organizations).where(organizations.c.id == org_id)
    else:
        query = select(organizations).where(organizations.c.name_key == name_key(typed))
    query = query.where(organizations.c.erased_at.is_(None))
    if deleted is False:
        query = query.where(organizations.c.deleted_at.is_(None))
    elif deleted is True:
        query = query.where(organizations.c.deleted_at.is_not(None))
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("organization not found")
    return row


def guarded_org(
    ctx: ControlContext, conn: Connection, actor: Actor, action: str, ref: str,
    *, deleted: bool | None = False,
) -> Row[Any]:
    """Find the org, then check the actor may act on it (hidden orgs look absent)."""
    row = find_org(conn, ref, deleted=deleted)
    ctx.guard(actor, action, row.id)
    return row
