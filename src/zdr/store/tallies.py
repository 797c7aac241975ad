"""Deletion tallies: how many records of each class were deleted, per org, per UTC day the
records were created, and why (`purge`, `retention` — a shortened period —, `erasure`).

Purge, retention shortening and erasures add their counts in the transaction that deletes the
rows, so a signed statement can say how many of a period's records were written, purged, erased
and are still held (`zdr.proof.statements`). Counts only: no ids, no content.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from zdr.store.db import utc
from zdr.store.tables import deletion_tallies

Reason = Literal["purge", "retention", "erasure"]


def day_of(value: Any) -> str:
    """The UTC day of a stored time (SQLite hands back text or naive UTC datetimes)."""
    if isinstance(value, datetime):
        return utc(value).date().isoformat()
    return str(value)[:10]


def add(conn: Connection, record_class: str, reason: Reason, deleted: Iterable[tuple[Any, Any]],
        now: datetime) -> int:
    """Record deleted rows given as (org_id, created_at) pairs; how many there were."""
    counts: Counter[tuple[str, str]] = Counter(
        (str(org_id), day_of(created)) for org_id, created in deleted)
    if counts:
        conn.execute(deletion_tallies.insert(), [
            {"org_id": org_id, "record_class": record_class, "created_day": day,
             "reason": reason, "count": count, "at": utc(now)}
            for (org_id, day), count in sorted(counts.items())])
    return sum(counts.values())


def add_counts(conn: Connection, record_class: str, reason: Reason,
               counts: Iterable[tuple[Any, Any, int]], now: datetime) -> int:
    """Record counts already grouped as (org_id, created day, count)."""
    grouped = [(str(org_id), day_of(day), int(count)) for org_id, day, count in counts if count]
    if grouped:
        conn.execute(deletion_tallies.insert(), [
            {"org_id": org_id, "record_class": record_class, "created_day": day,
             "reason": reason, "count": count, "at": utc(now)}
            for org_id, day, count in grouped])
    return sum(count for _org, _day, count in grouped)
