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

Each step is recorded, in the transaction that makes it, in the erasure's `org_erasures` row
(`zdr.store.erasure_records`): its signed receipt is issued from that record (`receipts_owed`),
so a process that dies between the erasure and the receipt does not lose the receipt.

Public names: `erase_org(engine, keyring, org_id, now) -> ErasureReport`,
`due_for_erasure(conn, restore_days, now)`, `erase_due(engine, keyring, restore_days, now)`,
`receipts_owed(engine)`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Table, and_, delete, func, not_, or_, select, update

from zdr.store import erasure_records, tallies
from zdr.store.crypto import Keyring
from zdr.store.db import read_only, utc
from zdr.store.erasure_records import ErasureReport
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
    org_erasures,
    organizations,
    upstream_resources,
    workspaces,
    zdr_requests,
)

BATCH = 5000
_RECORDS: tuple[Table, ...] = (contents, flagged_contents, feature_artifacts, exchanges)
_TALLIED = {"contents": "content", "flagged_contents": "flagged_content",
            "feature_artifacts": "feature_artifact"}


def _held_count(conn: Connection, table: Table, org_id: str) -> int:
    return int(conn.execute(
        select(func.count()).where(table.c.org_id == org_id, held(table))
    ).scalar() or 0)


def erase_org(engine: Engine, keyring: Keyring, org_id: str, now: datetime) -> ErasureReport:
    """Erase a deleted org (idempotent: later runs finish what holds postponed). Each step is
    recorded in its own transaction (`zdr.store.erasure_records`): a run that dies part-way is
    resumed by the next, and the receipt is owed once the last step commits."""
    now = utc(now)
    with engine.begin() as conn:
        conn.execute(update(organizations).where(organizations.c.id == org_id,
                                                 organizations.c.erased_at.is_(None))
                     .values(erased_at=now))
        report = erasure_records.open_erasure(conn, org_id, now)
        if _held_count(conn, contents, org_id) == 0:
            report.destroyed_keys.extend(_key_ids(conn, org_id, "content"))
            keyring.destroy(org_id, now, conn=conn)
            report.content_key_destroyed = True
        erasure_records.save(conn, report)
    keyring.forget(org_id)
    for table in _RECORDS:
        key = table.c.id
        record_class = _TALLIED.get(table.name)
        report.deleted.setdefault(table.name, 0)
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
                report.deleted[table.name] += count
                erasure_records.save(conn, report)
            if count < BATCH:
                break
    with engine.begin() as conn:
        for table in (api_keys, memberships, zdr_requests, workspaces):
            report.deleted[table.name] = report.deleted.get(table.name, 0) + conn.execute(
                delete(table).where(table.c.org_id == org_id)).rowcount
        # ownership of its upstream files/batches (ids only; a handful per org)
        report.deleted[upstream_resources.name] = report.deleted.get(
            upstream_resources.name, 0) + conn.execute(delete(upstream_resources).where(
                upstream_resources.c.org_id == org_id, not_(held(upstream_resources)))).rowcount
        for table in _RECORDS:
            report.held_remaining[table.name] = _held_count(conn, table, org_id)
        report.kept_classifier_results = int(conn.execute(select(func.count()).where(
            classifier_results.c.org_id == org_id)).scalar() or 0)
        if report.held_remaining["flagged_contents"] == 0:
            report.destroyed_keys.extend(_key_ids(conn, org_id, "flagged"))
            keyring.destroy_safety_key(org_id, now, conn=conn)
            report.safety_key_destroyed = True
        erasure_records.finish(conn, report, now)
    keyring.forget(org_id)
    return report


def _key_ids(conn: Connection, org_id: str, purpose: str) -> list[str]:
    """`purpose:<first 16 hex of SHA-256 of the wrapped key>` of a key still there (what an
    erasure receipt names as destroyed; the id reveals nothing of the key)."""
    column = org_data_keys.c.wrapped_key if purpose == "content" \
        else org_data_keys.c.wrapped_safety_key
    wrapped = conn.execute(select(column).where(org_data_keys.c.org_id == org_id)).scalar()
    if not wrapped:
        return []
    return [f"{purpose}:{hashlib.sha256(bytes(wrapped)).hexdigest()[:16]}"]


def due_for_erasure(conn: Connection, restore_days: int, now: datetime) -> list[str]:
    """Orgs past their restore window not yet erased, erased orgs with a key still alive, and
    orgs whose last erasure died part-way."""
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
    interrupted = select(org_erasures.c.org_id).where(
        org_erasures.c.org_id == organizations.c.id, org_erasures.c.completed_at.is_(None),
    ).exists()
    query = select(organizations.c.id).where(or_(past_window, unfinished, interrupted))
    return list(conn.execute(query).scalars())


def erase_due(
    engine: Engine, keyring: Keyring, restore_days: int, now: datetime
) -> list[ErasureReport]:
    with engine.connect() as conn:
        due = due_for_erasure(read_only(conn), restore_days, now)
    return [erase_org(engine, keyring, org_id, now) for org_id in due]


def receipts_owed(engine: Engine) -> list[ErasureReport]:
    """Finished erasures whose signed receipt is not issued yet (this run's and any earlier
    run's that died before its receipt)."""
    with engine.connect() as conn:
        return erasure_records.receipts_owed(read_only(conn))
