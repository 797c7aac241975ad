"""`SqlDirectory`: API key hash → `Principal`, from organizations, workspaces and api_keys.

Implements `zdr.ports.Directory` (`async principal_for(key_hash)`; the gateway caches it with a
short TTL). Revoked keys and erased organizations resolve to None; a deleted organization that
can still be restored resolves to a `Principal` with `org_deleted=True` (the gateway refuses it).

Sync helpers for the CLI and the control plane: `principal_for_sync(key_hash)`,
`arrangements_for(conn, org_id, workspace_id, key_kind)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection, Engine, select

from zdr.policy.facts import ZDR_STATUSES, Arrangements, OrgState, WorkspaceState, ZdrStatus
from zdr.ports import Principal
from zdr.store.db import read_only, utc
from zdr.store.tables import api_keys, organizations, workspaces

_PRINCIPAL = (
    select(
        api_keys.c.id.label("key_id"), api_keys.c.prefix, api_keys.c.kind,
        api_keys.c.revoked_at, api_keys.c.workspace_id,
        organizations.c.id.label("org_id"), organizations.c.name.label("org_name"),
        organizations.c.plan, organizations.c.zdr_status, organizations.c.zdr_effective_at,
        organizations.c.hipaa, organizations.c.baa_version, organizations.c.retention_days,
        organizations.c.deleted_at, organizations.c.erased_at,
        workspaces.c.retention_override_days,
    )
    .select_from(
        api_keys.join(organizations, organizations.c.id == api_keys.c.org_id)
        .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
    )
)


def _zdr_status(value: str) -> ZdrStatus:
    for status in ZDR_STATUSES:
        if status == value:
            return status
    return "none"   # an unknown status never puts ZDR in force; the policy treats it as none


def _arrangements(row: Any) -> Arrangements:
    org = OrgState(
        plan=row.plan,
        zdr_status=_zdr_status(row.zdr_status),
        zdr_effective_at=None if row.zdr_effective_at is None else utc(row.zdr_effective_at),
        hipaa=bool(row.hipaa),
        baa_version=row.baa_version,
        retention_days=row.retention_days,
        org_id=row.org_id,
    )
    workspace = WorkspaceState(retention_override_days=row.retention_override_days,
                               workspace_id=row.workspace_id)
    return Arrangements(org=org, key_kind=row.kind, workspace=workspace)


def principal_from_row(row: Any) -> Principal | None:
    if row is None or row.revoked_at is not None or row.erased_at is not None:
        return None
    return Principal(
        key_id=row.key_id, key_prefix=row.prefix, org_id=row.org_id, org_name=row.org_name,
        workspace_id=row.workspace_id, arrangements=_arrangements(row),
        org_deleted=row.deleted_at is not None,
    )


def arrangements_for(conn: Connection, key_id: str) -> Arrangements | None:
    """The arrangements in force for one key (by id), for the CLI's `explain`."""
    return _one(conn, api_keys.c.id == key_id)


def _one(conn: Connection, condition: Any) -> Arrangements | None:
    principal = principal_from_row(conn.execute(_PRINCIPAL.where(condition)).first())
    return None if principal is None else principal.arrangements


class SqlDirectory:
    """`Directory` over the SQL store. Each lookup is one indexed join (key hash is unique)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def principal_for_sync(self, key_hash: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = read_only(conn).execute(_PRINCIPAL.where(api_keys.c.key_hash == key_hash)).first()
        return principal_from_row(row)

    async def principal_for(self, key_hash: str) -> Principal | None:
        return await asyncio.to_thread(self.principal_for_sync, key_hash)
