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

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, func, not_, or_, select, update

from zdr.store import tallies
from zdr.store.crypto import Keyring
from zdr.store.db import read_only, utc
from zdr.store.holds import held
from zdr.store.tables import (
    api_keys,
    classifier_results,
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
_TALLIED = {"contents": "content", "flagged_contents": "flagged_content",
            "feature_artifacts": "feature_artifact"}


@dataclass
class ErasureReport:
    org_id: str
    deleted: dict[str, int] = field(default_factory=dict)
    content_key_destroyed: bool = False
    safety_key_destroyed: bool = False
    held_remaining: dict[str, int] = field(default_factory=dict)
    destroyed_keys: list[str] = field(default_factory=list)   # "content:<id>", "flagged:<id>"
    kept_classifier_results: int = 0
    erased_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id, "deleted": self.deleted,
            "content_key_destroyed": self.content_key_destroyed,
            "safety_key_destroyed": self.safety_key_destroyed,
            "held_remaining": self.held_remaining, "destroyed_keys": self.destroyed_keys,
        }


def _held_count(conn: Connection, table: Table, org_id: str) -> int:
    return int(conn.execute(
        select(func.count()).where(table.c.org_id == org_id, held(table))
    ).scalar() or 0)


def erase_org(engine: Engine, keyring: Keyring, org_id: str, now: datetime) -> ErasureReport:
    """Erase a deleted org (idempotent: later runs finish what holds postponed)."""
    now = utc(now)
    report = ErasureReport(org_id, erased_at=now)
    with engine.begin() as conn:
        conn.execute(update(organizations).where(organizations.c.id == org_id,
                                                 organizations.c.erased_at.is_(None))
                     .values(erased_at=now))
        held_content = _held_count(conn, contents, org_id)
    if held_content == 0:
        report.destroyed_keys.extend(_key_ids(engine, org_id, "content"))
        keyring.destroy(org_id, now)
        report.content_key_destroyed = True
    for table in _RECORDS:
        key = table.c.id
        total = 0
        record_class = _TALLIED.get(table.name)
        while True:
            batch = select(key).where(table.c.org_id == org_id, not_(held(table))) \
                .limit(BATCH).scalar_subquery()
            with engine.begin() as conn:
                statement = delete(table).where(key.in_(batch))
                if record_class is None:
                    count = conn.execute(statement).rowcount
                else:           # counted per creation day for signed statements
                    gone = conn.execute(statement.returning(table.c.org_id,
                                                            table.c.created_at)).all()
                    count = tallies.add(conn, record_class, "erasure",
                                        [tuple(r) for r in gone], now)
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
        report.kept_classifier_results = int(conn.execute(select(func.count()).where(
            classifier_results.c.org_id == org_id)).scalar() or 0)
    if report.held_remaining["flagged_contents"] == 0:
        report.destroyed_keys.extend(_key_ids(engine, org_id, "flagged"))
        keyring.destroy_safety_key(org_id, now)
        report.safety_key_destroyed = True
    return report


def _key_ids(engine: Engine, org_id: str, purpose: str) -> list[str]:
    """`purpose:<first 16 hex of SHA-256 of the wrapped key>` of a key still there (what an
    erasure receipt names as destroyed; the id reveals nothing of the key)."""
    column = org_data_keys.c.wrapped_key if purpose == "content" \
        else org_data_keys.c.wrapped_safety_key
    with engine.connect() as conn:
        wrapped = conn.execute(select(column).where(org_data_keys.c.org_id == org_id)).scalar()
    if not wrapped:
        return []
    return [f"{purpose}:{hashlib.sha256(bytes(wrapped)).hexdigest()[:16]}"]


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
