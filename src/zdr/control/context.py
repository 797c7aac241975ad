"""What every control-plane service shares: the database, the catalog, the clock, the guard.

`ControlContext.guard` is the single place where the service layer applies `authorize`: org people
asking about another organization get "not found" (they may not learn it exists); anyone else
lacking the role gets "permission denied" with the verdict's reason. `ControlContext.write` opens
one serialized transaction per action, in which the change and its audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from zdr.catalog.schema import Catalog
from zdr.control import audit, checkpoints
from zdr.control.org_names import OrgId, canonical_id, name_key, reference
from zdr.control.roles import SYSTEM_ACTOR_ID, Actor, authorize
from zdr.errors import NotFound, PermissionDenied, StoreUnavailable
from zdr.store.changes import publish_change
from zdr.store.db import read_only
from zdr.store.tables import organizations

DEFAULT_CHECKPOINTS = checkpoints.CheckpointPolicy()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ControlContext:
    engine: Engine
    catalog: Catalog
    clock: Callable[[], datetime] = _utc_now
    keyring: Any | None = None                     # zdr.store.crypto.Keyring, when configured
    on_change: Callable[[str], None] | None = None  # org id -> invalidate gateway caches
    chain_key: audit.ChainKey | None = None        # the audit chain's key (from the master key)
    signer: Any | None = None                       # zdr.proof.signing.Signer: checkpoints
    checkpoint_policy: checkpoints.CheckpointPolicy = DEFAULT_CHECKPOINTS
    settings: Any | None = None                     # zdr.settings.Settings: `zdr verify` runs
    end_user_key: bytes | None = None               # keyed hashes of end users (master key)
    cadence: checkpoints.Cadence = field(default_factory=checkpoints.Cadence, repr=False)

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with audit.serialized(self.engine) as conn:
                yield conn
        except BaseException:
            self.cadence.forget()
            raise

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
        entry = audit.append(
            conn, self.audit_key(), actor=actor_name(actor), role=actor.role_label(org_id),
            org_id=org_id, action=action, target=target, before=before, after=after,
            at=self.now(),
        )
        if self.signer is not None and self.cadence.due(conn, entry, self.checkpoint_policy):
            self.cadence.wrote(checkpoints.write_checkpoint(conn, self.audit_key(), self.signer,
                                                            entry.at))
        return entry

    def audit_key(self) -> audit.ChainKey:
        """The audit chain's key; without the master key no action can be audited, so none
        is taken (fail closed)."""
        if self.chain_key is None:
            raise StoreUnavailable("the audit log cannot be written without the master key: "
                                   "set ZDR_MASTER_KEY or run `zdr init`")
        return self.chain_key

    def changed(self, org_id: str) -> None:
        """After a committed change of an org's arrangements: tell every gateway worker (a
        PostgreSQL notice, zdr.store.changes) and this process's own hook, if one is wired."""
        publish_change(self.engine, org_id)
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
