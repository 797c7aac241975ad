"""Purge: remove every expired record that no hold covers, of every record class.

- PostgreSQL: the content tables are partitioned by expiry day (`zdr.store.partitions`); a day
  that has fully expired and holds no held row is dropped whole: counted per org and creation
  day into the deletion tallies and detached in one short transaction (with a `lock_timeout` so
  writers are never held up for long; a day that cannot be locked is retried next sweep), then
  `DROP TABLE`d, which frees its files without any lock on the parent table. Held rows keep
  their partition; its unheld rows are deleted row by row.
- Everything else, and SQLite: deletes in batches of `batch_size` rows (`DEFAULT_BATCH`), one
  short transaction each, so gateway writers get the database between batches.
- Ownership records of upstream files/batches (`upstream_resources`) past their period go too.
- Every deleted content, flagged, classifier and artifact record is counted per org and creation
  day in `deletion_tallies` (`zdr.store.tallies`), in the transaction that deletes it: what
  signed statements report as purged.
- One purger at a time: on PostgreSQL a session advisory lock (`pg_try_advisory_lock`); a second
  instance skips the run. On SQLite, batches are serialized by the write lock and idempotent.
- `purge_lag_seconds` (Prometheus gauge): how long past expiry the oldest expired, unheld record
  is, measured after each run.

Public names: `purge(engine, now, dry_run=False, ...) -> PurgeReport`, `purge_lag(conn, now)`,
`shorten_retention(engine, org_id, days, now)`, `RECORD_TABLES`, `expired_unheld(table, now)`.
The background sweeper is `zdr.store.sweeper.PurgeSweeper`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    delete,
    func,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from zdr.errors import DatabaseUnavailable
from zdr.store import metrics, tallies
from zdr.store.db import read_only, utc
from zdr.store.failures import lock_timed_out
from zdr.store.holds import held
from zdr.store.partitions import (
    PARTITIONED_TABLES,
    PartitionManager,
    day_of,
    day_start,
    partition_name,
    partitions_of,
)
from zdr.store.resources import purge_expired_resources
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
    holds,
    workspaces,
)

PURGE_LOCK_KEY = 724003
# Rows per delete transaction. SQLite has one writer at a time: smaller batches let gateway
# writes in between (measured: worst concurrent commit ~0.2 s at 1,000 vs ~0.6 s at 5,000 rows of
# 1 KB, for the same purge time). PostgreSQL deletes rows only for held or partly expired days.
DEFAULT_BATCH = {"sqlite": 1000, "postgresql": 5000}
DROP_LOCK_TIMEOUT = "500ms"

RECORD_TABLES: dict[str, Table] = {
    "content": contents,
    "flagged_content": flagged_contents,
    "feature_artifact": feature_artifacts,
    "classifier_result": classifier_results,
    "metadata": exchanges,
}

Progress = Callable[[str, int], None]


@dataclass
class PurgeReport:
    now: datetime
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)
    dropped_partitions: list[str] = field(default_factory=list)
    held_expired: dict[str, int] = field(default_factory=dict)
    lag_seconds: float = 0.0
    skipped: str | None = None          # why nothing was done (another purger holds the lock)
    estimated: bool = False             # always False now: dropped partitions are counted
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(), "dry_run": self.dry_run, "deleted": self.deleted,
            "total": self.total, "dropped_partitions": self.dropped_partitions,
            "held_expired": self.held_expired, "lag_seconds": round(self.lag_seconds, 3),
            "skipped": self.skipped, "seconds": round(self.seconds, 3),
            "estimated": self.estimated,
        }


def expired(table: Table, now: datetime) -> ColumnElement[bool]:
    return and_(table.c.expires_at.is_not(None), table.c.expires_at <= utc(now))


def expired_unheld(table: Table, now: datetime) -> ColumnElement[bool]:
    return and_(expired(table, now), not_(held(table)))


def _key(table: Table) -> Any:
    return table.c.id


def purge_lag(conn: Connection, now: datetime) -> float:
    """Seconds past expiry of the oldest expired, unheld record (0.0 when there is none)."""
    oldest: datetime | None = None
    for table in RECORD_TABLES.values():
        value = conn.execute(
            select(func.min(table.c.expires_at)).where(expired_unheld(table, now))
        ).scalar()
        if value is not None and (oldest is None or utc(value) < oldest):
            oldest = utc(value)
    return 0.0 if oldest is None else max(0.0, (utc(now) - oldest).total_seconds())


@contextmanager
def _purge_lock(engine: Engine) -> Iterator[bool]:
    """Only one purger per PostgreSQL database (session advisory lock). Always True on SQLite."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": PURGE_LOCK_KEY}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PURGE_LOCK_KEY})
                conn.commit()


def _drop_expired_partitions(
    engine: Engine, table: Table, now: datetime, report: PurgeReport, progress: Progress | None
) -> None:
    """Drop, in one short transaction, every fully expired day partition with no held row."""
    now = utc(now)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
        # No hold may be placed between our check and the drop.
        conn.exec_driver_sql("LOCK TABLE holds IN SHARE MODE")
        days = [d for d in partitions_of(conn, table.name)
                if day_start(d + timedelta(days=1)) <= now]
        if not days:
            return
        cutoff = day_start(max(days) + timedelta(days=1))
        expired_rows = table.c.expires_at < cutoff
        held_days: set[date] = set()
        if conn.execute(select(holds.c.id).where(holds.c.released_at.is_(None)).limit(1)).first():
            held_days = {
                day_of(utc(e)) for e in conn.execute(
                    select(table.c.expires_at).where(expired_rows, held(table))).scalars()
            }
        droppable = [d for d in days if d not in held_days]
        if not droppable:
            return
        names = [partition_name(table.name, d) for d in droppable]
        rows = 0 if report.dry_run else sum(_tally_partition(conn, table, n, now)
                                            for n in names)
        if not report.dry_run:
            try:
                with conn.begin_nested():
                    for name in names:   # metadata only: writers wait milliseconds at most
                        conn.exec_driver_sql(
                            f'ALTER TABLE "{table.name}" DETACH PARTITION "{name}"')
            except DatabaseUnavailable as error:   # lock timeout: the next sweep retries
                if not lock_timed_out(error):
                    raise
                return
    report.dropped_partitions.extend(names)
    if report.dry_run:
        return          # the dry-run count of expired rows (next step) includes these days
    _drop_detached(engine, table)
    metrics.PARTITIONS_DROPPED.inc(len(names))
    _count(report, table, rows, progress)


def _drop_detached(engine: Engine, table: Table) -> None:
    """Drop day partitions that are detached from `table` (by the step above, or by a purge that
    stopped between detaching and dropping). Freeing their files takes time, but no lock on the
    parent table: writers are not held up."""
    with engine.begin() as conn:
        names = conn.execute(text(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ :pattern "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)"
        ), {"pattern": f"^{table.name}_p[0-9]{{8}}$"}).scalars().all()
        for name in names:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')


def _tally_partition(conn: Connection, table: Table, name: str, now: datetime) -> int:
    """Count a partition about to be dropped per org and creation day, into the deletion
    tallies (in the transaction that detaches it); its row count."""
    query = (f'SELECT org_id, to_char(created_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD\'), '  # noqa: S608
             f'count(*) FROM "{name}" GROUP BY 1, 2')    # our own partition name
    counts = [tuple(row) for row in conn.exec_driver_sql(query)]
    return tallies.add_counts(conn, _record_class(table), "purge", counts, now)


def _record_class(table: Table) -> str:
    return next(k for k, v in RECORD_TABLES.items() if v is table)


def _count(report: PurgeReport, table: Table, rows: int, progress: Progress | None) -> None:
    record_class = _record_class(table)
    report.deleted[record_class] = report.deleted.get(record_class, 0) + rows
    if rows and not report.dry_run:
        metrics.PURGED.labels(record_class=record_class).inc(rows)
    if progress is not None:
        progress(record_class, report.deleted[record_class])


def _delete_batches(
    engine: Engine, table: Table, condition: ColumnElement[bool], batch_size: int,
    report: PurgeReport, progress: Progress | None, deadline: float | None,
    reason: tallies.Reason = "purge",
) -> None:
    key = _key(table)
    tallied = table is not exchanges     # records with a creation time: counted per day
    if report.dry_run:
        with engine.connect() as conn:
            rows = read_only(conn).execute(select(func.count()).where(condition)).scalar() or 0
        _count(report, table, int(rows), progress)
        return
    while deadline is None or time.monotonic() < deadline:
        batch = select(key).where(condition).limit(batch_size).scalar_subquery()
        with engine.begin() as conn:
            statement = delete(table).where(key.in_(batch))
            if tallied:
                gone = conn.execute(statement.returning(table.c.org_id, table.c.created_at))
                deleted = tallies.add(conn, _record_class(table), reason,
                                      [tuple(row) for row in gone], report.now)
            else:
                deleted = conn.execute(statement).rowcount
        _count(report, table, deleted, progress)
        if deleted < batch_size:
            return


def purge(
    engine: Engine,
    now: datetime,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
    max_seconds: float | None = None,
) -> PurgeReport:
    """Remove (or with `dry_run`, count) every expired, unheld record."""
    started = time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    batch_size = batch_size or DEFAULT_BATCH.get(engine.dialect.name, 1000)
    report = PurgeReport(now=utc(now), dry_run=dry_run)
    with _purge_lock(engine) as got:
        if not got:
            report.skipped = "another purger holds the lock"
            return report
        for record_class, table in RECORD_TABLES.items():
            report.deleted.setdefault(record_class, 0)
            if engine.dialect.name == "postgresql" and table.name in PARTITIONED_TABLES:
                _drop_expired_partitions(engine, table, now, report, progress)
            _delete_batches(engine, table, expired_unheld(table, now), batch_size, report,
                            progress, deadline)
        # Ownership records of upstream batches past their period (zdr.store.resources).
        report.deleted["upstream_resource"] = purge_expired_resources(
            engine, now, batch_size, dry_run=dry_run)
        with engine.connect() as conn:
            conn = read_only(conn)
            for record_class, table in RECORD_TABLES.items():
                report.held_expired[record_class] = int(conn.execute(
                    select(func.count()).where(expired(table, now), held(table))
                ).scalar() or 0)
            report.lag_seconds = purge_lag(conn, now)
    metrics.PURGE_LAG.set(report.lag_seconds)
    report.seconds = time.monotonic() - started
    return report


def shorten_retention(
    engine: Engine, org_id: str, days: int, now: datetime, *, batch_size: int | None = None
) -> int:
    """Apply a shorter content period to an org at once: delete older content, re-date the rest.

    A workspace override longer than `days` still applies to its workspace (docs/DESIGN.md §2,
    rule 6). Held rows are neither deleted nor re-dated. Returns the number of content rows deleted.
    """
    now = utc(now)
    batch_size = batch_size or DEFAULT_BATCH.get(engine.dialect.name, 1000)
    with engine.connect() as conn:
        overrides = dict(read_only(conn).execute(
            select(workspaces.c.id, workspaces.c.retention_override_days)
            .where(workspaces.c.org_id == org_id)
        ).all())
    deleted = 0
    periods: dict[str | None, int] = {None: days}
    for workspace_id, override in overrides.items():
        periods[workspace_id] = max(days, override) if override is not None else days
    for workspace_id, period in periods.items():
        in_scope = and_(
            contents.c.org_id == org_id,
            contents.c.workspace_id.is_(None) if workspace_id is None
            else contents.c.workspace_id == workspace_id,
            not_(held(contents)),
        )
        cutoff = now - timedelta(days=period)
        report = PurgeReport(now=now, dry_run=False)
        _delete_batches(engine, contents, and_(in_scope, contents.c.created_at <= cutoff),
                        batch_size, report, None, None, "retention")
        deleted += report.deleted.get("content", 0)
        _redate(engine, in_scope, period, now)
    return deleted


def _redate(engine: Engine, in_scope: ColumnElement[bool], period: int, now: datetime) -> None:
    """Bring `expires_at` of the remaining rows down to `created_at + period`."""
    with engine.connect() as conn:
        rows = read_only(conn).execute(
            select(contents.c.id, contents.c.created_at, contents.c.expires_at)
            .where(in_scope, contents.c.expires_at > now)
        ).all()
    changes = [(r.id, utc(r.created_at) + timedelta(days=period)) for r in rows
               if utc(r.created_at) + timedelta(days=period) < utc(r.expires_at)]
    if not changes:
        return
    PartitionManager(engine).ensure("contents", (expires for _id, expires in changes))
    with engine.begin() as conn:
        for row_id, expires in changes:
            conn.execute(update(contents).where(contents.c.id == row_id)
                         .values(expires_at=expires))
