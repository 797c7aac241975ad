"""Organization deletion, after its restore window: crypto-shredding and row deletion.

The control plane marks an org deleted (`organizations.deleted_at`) and can restore it for
`catalog.retention.deletion_restore_days`. After that, `erase_org`:

1. marks it erased (`erased_at`): its keys stop resolving (`SqlDirectory` → None);
2. destroys its content data key (crypto-shredding: its content in this database becomes
   unreadable; a backup taken before still holds the wrapped key and, with the master key,
   decrypts it: see `zdr.store.crypto`) — unless a hold still covers some of its content, in
   which case the key is destroyed by a later run, once the last hold is released;
3. deletes its content, flagged content, feature artifacts, metadata rows and ownership records
   of upstream files/batches not under a hold, its API keys, workspaces, memberships and ZDR
   requests;
4. keeps what must stay (docs/DESIGN.md §2 rule 7): classifier results, held records, the audit log.
   Its safety key (flagged content) is destroyed once no held flagged content remains.

Public names: `erase_org(engine, keyring, org_id, now) -> ErasureReport`,
`due_for_erasure(conn, restore_days, now)`, `erase_due(engine, keyring, restore_days, now)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, func, not_, or_, select, update

from zdr.store.crypto import Keyring
from zdr.store.db import read_only, utc
from zdr.store.holds import held
from zdr.store.tables import (
    api_keys,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
    memberships,
    org_data_keys,
    organizations,
    upstream_resources,
    workspaces,
    zdr_requests,
)

BATCH = 5000
_RECORDS: tuple[Table, ...] = (contents, flagged_contents, feature_artifacts, exchanges)


@dataclass
class ErasureReport:
    org_id: str
    deleted: dict[str, int] = field(default_factory=dict)
    content_key_destroyed: bool = False
    safety_key_destroyed: bool = False
    held_remaining: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id, "deleted": self.deleted,
            "content_key_destroyed": self.content_key_destroyed,
            "safety_key_destroyed": self.safety_key_destroyed,
            "held_remaining": self.held_remaining,
        }


def _held_count(conn: Connection, table: Table, org_id: str) -> int:
    return int(conn.execute(
        select(func.count()).where(table.c.org_id == org_id, held(table))
    ).scalar() or 0)


def erase_org(engine: Engine, keyring: Keyring, org_id: str, now: datetime) -> ErasureReport:
    """Erase a deleted org (idempotent: later runs finish what holds postponed)."""
    now = utc(now)
    report = ErasureReport(org_id)
    with engine.begin() as conn:
        conn.execute(update(organizations).where(organizations.c.id == org_id,
                                                 organizations.c.erased_at.is_(None))
                     .values(erased_at=now))
        held_content = _held_count(conn, contents, org_id)
    if held_content == 0:
        keyring.destroy(org_id, now)
        report.content_key_destroyed = True
    for table in _RECORDS:
        key = table.c.id
        total = 0
        while True:
            batch = select(key).where(table.c.org_id == org_id, not_(held(table))) \
                .limit(BATCH).scalar_subquery()
            with engine.begin() as conn:
                count = conn.execute(delete(table).where(key.in_(batch))).rowcount
            total += count
            if count < BATCH:
                break
        report.deleted[table.name] = total
    with engine.begin() as conn:
        for table in (api_keys, memberships, zdr_requests, workspaces):
            report.deleted[table.name] = conn.execute(
                delete(table).where(table.c.org_id == org_id)).rowcount
        # ownership of its upstream files/batches (ids only; a handful per org)
        report.deleted[upstream_resources.name] = conn.execute(delete(upstream_resources).where(
            upstream_resources.c.org_id == org_id, not_(held(upstream_resources)))).rowcount
        for table in _RECORDS:
            report.held_remaining[table.name] = _held_count(conn, table, org_id)
    if report.held_remaining["flagged_contents"] == 0:
        keyring.destroy_safety_key(org_id, now)
        report.safety_key_destroyed = True
    return report


def due_for_erasure(conn: Connection, restore_days: int, now: datetime) -> list[str]:
    """Orgs past their restore window not yet erased, and erased orgs with a key still alive."""
    cutoff = utc(now) - timedelta(days=restore_days)
    past_window = and_(organizations.c.deleted_at.is_not(None),
                       organizations.c.deleted_at <= cutoff, organizations.c.erased_at.is_(None))
    unfinished = and_(
        organizations.c.erased_at.is_not(None),
        select(org_data_keys.c.org_id).where(
            org_data_keys.c.org_id == organizations.c.id,
            or_(org_data_keys.c.destroyed_at.is_(None),
                org_data_keys.c.safety_destroyed_at.is_(None)),
        ).exists(),
    )
    query = select(organizations.c.id).where(or_(past_window, unfinished))
    return list(conn.execute(query).scalars())


def erase_due(
    engine: Engine, keyring: Keyring, restore_days: int, now: datetime
) -> list[ErasureReport]:
    with engine.connect() as conn:
        due = due_for_erasure(read_only(conn), restore_days, now)
    return [erase_org(engine, keyring, org_id, now) for org_id in due]
