"""The durable record of each org erasure (`org_erasures`), from which its receipt is issued.

`zdr.store.deletion.erase_org` writes what it did into the record in the same transaction as
each step (the key destroyed, a batch of rows deleted), so a process that dies between the
erasure and the receipt loses nothing: an unfinished record is resumed by the next run on that
org, and a finished one whose receipt is still owed is listed by `receipts_owed` until the
evidence service names the receipt with `settle` (in the transaction that logs it). Content-free:
counts per table, key ids (hashes of wrapped keys), flags and times.

Public names: `ErasureReport`, `open_erasure(conn, org_id, now)`, `save(conn, report)`,
`finish(conn, report, now)`, `receipts_owed(conn)`, `settle(conn, record_id, seq)`,
`receipt_seq(conn, record_id)`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from zdr.store.db import utc
from zdr.store.tables import org_erasures


@dataclass
class ErasureReport:
    """What one erasure of an org did (its receipt's facts); `record_id`: its `org_erasures`
    row."""

    org_id: str
    deleted: dict[str, int] = field(default_factory=dict)
    content_key_destroyed: bool = False
    safety_key_destroyed: bool = False
    held_remaining: dict[str, int] = field(default_factory=dict)
    destroyed_keys: list[str] = field(default_factory=list)   # "content:<id>", "flagged:<id>"
    kept_classifier_results: int = 0
    erased_at: datetime | None = None
    record_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id, "deleted": self.deleted,
            "content_key_destroyed": self.content_key_destroyed,
            "safety_key_destroyed": self.safety_key_destroyed,
            "held_remaining": self.held_remaining, "destroyed_keys": self.destroyed_keys,
        }


def open_erasure(conn: Connection, org_id: str, now: datetime) -> ErasureReport:
    """The org's unfinished erasure (a run that died part-way), or a new one started `now`."""
    row = conn.execute(select(org_erasures).where(
        org_erasures.c.org_id == org_id, org_erasures.c.completed_at.is_(None))
        .order_by(org_erasures.c.erased_at).limit(1)).first()
    if row is not None:
        return _report(row)
    report = ErasureReport(org_id, erased_at=utc(now), record_id=str(uuid.uuid4()))
    conn.execute(org_erasures.insert().values(
        id=report.record_id, org_id=org_id, erased_at=report.erased_at, facts=_facts(report)))
    return report


def save(conn: Connection, report: ErasureReport) -> None:
    """Record what the erasure has done so far (call in the transaction that did it)."""
    conn.execute(update(org_erasures).where(org_erasures.c.id == report.record_id)
                 .values(facts=_facts(report)))


def finish(conn: Connection, report: ErasureReport, now: datetime) -> None:
    """Record the erasure's last step: its receipt is owed from now on."""
    conn.execute(update(org_erasures).where(org_erasures.c.id == report.record_id)
                 .values(facts=_facts(report), completed_at=utc(now)))


def receipts_owed(conn: Connection) -> list[ErasureReport]:
    """Finished erasures whose receipt is not in the attestation log yet, oldest first."""
    rows = conn.execute(select(org_erasures).where(
        org_erasures.c.completed_at.is_not(None), org_erasures.c.receipt_seq.is_(None))
        .order_by(org_erasures.c.erased_at, org_erasures.c.id)).all()
    return [_report(row) for row in rows]


def settle(conn: Connection, record_id: str, seq: int) -> bool:
    """Name the receipt logged as `seq`; False when another process named one first (the caller
    rolls its own back: one receipt per erasure)."""
    done = conn.execute(update(org_erasures).where(
        org_erasures.c.id == record_id, org_erasures.c.receipt_seq.is_(None))
        .values(receipt_seq=seq))
    return done.rowcount == 1


def receipt_seq(conn: Connection, record_id: str) -> int | None:
    """Where the erasure's receipt stands in the attestation log (None: not issued yet)."""
    seq = conn.execute(select(org_erasures.c.receipt_seq)
                       .where(org_erasures.c.id == record_id)).scalar()
    return None if seq is None else int(seq)


def _facts(report: ErasureReport) -> dict[str, Any]:
    return {"deleted": report.deleted, "held_remaining": report.held_remaining,
            "destroyed_keys": report.destroyed_keys,
            "content_key_destroyed": report.content_key_destroyed,
            "safety_key_destroyed": report.safety_key_destroyed,
            "kept_classifier_results": report.kept_classifier_results}


def _report(row: Any) -> ErasureReport:
    facts = dict(row.facts)
    return ErasureReport(
        row.org_id, deleted=dict(facts.get("deleted", {})),
        content_key_destroyed=bool(facts.get("content_key_destroyed")),
        safety_key_destroyed=bool(facts.get("safety_key_destroyed")),
        held_remaining=dict(facts.get("held_remaining", {})),
        destroyed_keys=list(facts.get("destroyed_keys", [])),
        kept_classifier_results=int(facts.get("kept_classifier_results", 0)),
        erased_at=utc(row.erased_at), record_id=row.id)
