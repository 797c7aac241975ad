"""The control plane: every service over one context, built once per process.

The admin API, the CLI and the console all call these services with an `Actor`; the services
check roles, apply changes and audit them. Nothing else writes arrangements.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from zdr.catalog import Catalog, load_catalog
from zdr.control import audit
from zdr.control.accounts import Accounts
from zdr.control.apikeys import ApiKeys
from zdr.control.arrangements import Arrangements
from zdr.control.context import ControlContext, guarded_org
from zdr.control.flagged import FlaggedReview
from zdr.control.holds import Holds
from zdr.control.organizations import Organizations
from zdr.control.roles import Actor
from zdr.control.workspaces import Workspaces
from zdr.settings import Settings


class AuditTrail:
    """Reading and verifying the audit log (appending is done by every other service)."""

    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def list(
        self, actor: Actor, org: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[audit.AuditEntry]:
        limit, after_seq = max(1, min(limit, 1000)), max(0, min(after_seq, 2**62))
        with self.ctx.read() as conn:
            if org is None:
                self.ctx.guard(actor, "audit.read", None)
                return audit.entries(conn, after_seq=after_seq, limit=limit)
            org_id = guarded_org(self.ctx, conn, actor, "audit.read", org, deleted=None).id
            return audit.entries(conn, org_id=org_id, after_seq=after_seq, limit=limit)

    def verify(self, actor: Actor, expect_head: str | None = None) -> audit.ChainReport:
        self.ctx.guard(actor, "audit.verify", None)
        with self.ctx.read() as conn:
            return audit.verify_chain(conn, expect_head)


@dataclass
class ControlPlane:
    ctx: ControlContext

    def __post_init__(self) -> None:
        self.orgs = Organizations(self.ctx)
        self.workspaces = Workspaces(self.ctx)
        self.keys = ApiKeys(self.ctx)
        self.arrangements = Arrangements(self.ctx)
        self.holds = Holds(self.ctx)
        self.flagged = FlaggedReview(self.ctx)
        self.accounts = Accounts(self.ctx)
        self.audit = AuditTrail(self.ctx)


def build_control_plane(
    settings: Settings, engine: Engine | None = None, catalog: Catalog | None = None,
    with_keyring: bool = True,
) -> ControlPlane:
    """The control plane for a home: its database, catalog and (if the master key loads) keys."""
    from zdr.store.db import engine_for

    engine = engine or engine_for(settings.database_url)
    keyring = None
    if with_keyring:
        from zdr.store.crypto import Keyring, MasterKeyError, load_master_key

        try:
            keyring = Keyring(engine, load_master_key(settings))
        except MasterKeyError:
            keyring = None
    return ControlPlane(ControlContext(
        engine=engine, catalog=catalog or load_catalog(settings.catalog_path), keyring=keyring,
    ))
