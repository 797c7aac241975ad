"""PostgreSQL day partitions of the encrypted content tables (`contents`, `flagged_contents`).

Each UTC day of `expires_at` is its own partition, `<table>_pYYYYMMDD`, holding rows that expire in
[day 00:00, next day 00:00). Partitions are created on demand by the writer (`ensure`), once per
process and day, under an advisory lock so that several gateway instances do not race; purge
drops a day whose every row has expired and none is held (`zdr.store.purge`). SQLite has no
partitions: everything here is a no-op there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, text

PARTITIONED_TABLES = ("contents", "flagged_contents")
PARTITION_LOCK_KEY = 724002


def day_of(expires_at: datetime) -> date:
    return expires_at.astimezone(UTC).date()


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def partitions_of(conn: Connection, table: str) -> dict[date, str]:
    """The existing day partitions of `table`: day → partition name."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
    ), {"table": table}).scalars()
    found = {}
    prefix = f"{table}_p"
    for name in rows:
        if name.startswith(prefix):
            found[datetime.strptime(name[len(prefix):], "%Y%m%d").date()] = name
    return found


class PartitionManager:
    """Creates missing day partitions; remembers the ones it has seen (per process)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: set[tuple[str, date]] = set()
        self._lock = threading.Lock()
        self.enabled = engine.dialect.name == "postgresql"

    def forget(self) -> None:
        """Drop the memory (after a purge dropped partitions, or an insert found one missing)."""
        with self._lock:
            self._known.clear()

    def ensure(self, table: str, expiries: Iterable[datetime]) -> None:
        if not self.enabled:
            return
        with self._lock:
            missing = {day_of(e) for e in expiries} - {d for t, d in self._known if t == table}
        if not missing:
            return
        with self._engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_LOCK_KEY})
            existing = partitions_of(conn, table)
            for day in sorted(missing - existing.keys()):
                start, end = day_start(day), day_start(day + timedelta(days=1))
                conn.exec_driver_sql(
                    f'CREATE TABLE IF NOT EXISTS "{partition_name(table, day)}" PARTITION OF '
                    f"\"{table}\" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                )
        with self._lock:
            self._known.update((table, day) for day in missing)
