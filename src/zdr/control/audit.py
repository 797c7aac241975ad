"""The audit log: append-only and hash-chained, so any edit, deletion or reordering shows.

Each entry's hash is SHA-256 over the canonical JSON (orjson, sorted keys) of the entry — its
sequence number, time, actor, role, org, action, target, before/after — and the previous entry's
hash. Appends are serialized (SQLite: the whole write transaction starts with BEGIN IMMEDIATE;
PostgreSQL: a transaction-scoped advisory lock), so two concurrent actions can never both extend
the same head. Entries say who did what to which settings; they never hold content or secrets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Engine, func, select, text

from zdr.store.db import utc
from zdr.store.tables import audit_log

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 0x7A6472_61756469  # "zdr" "audi": the advisory lock every appender takes

Problem = Literal["edited", "deleted", "reordered"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    role: str
    org_id: str | None
    action: str
    target: str | None
    before: Any
    after: Any
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head: str
    problem: Problem | None = None
    seq: int | None = None      # the first entry that is edited, missing or out of order
    message: str = "the audit chain verifies"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:           # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(value: Any) -> Any:
    """`value` as JSON data exactly as it will read back from the database."""
    return None if value is None else orjson.loads(orjson.dumps(value, default=str))


def entry_hash(fields: Mapping[str, Any]) -> str:
    body = {
        "seq": fields["seq"], "at": _iso(fields["at"]), "actor": fields["actor"],
        "role": fields["role"], "org_id": fields["org_id"], "action": fields["action"],
        "target": fields["target"], "before": fields["before"], "after": fields["after"],
        "prev_hash": fields["prev_hash"],
    }
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def lock_chain(conn: Connection) -> None:
    """Make this transaction the only one that may append until it ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # A write statement takes SQLite's RESERVED lock even when it changes no row.
        conn.execute(text("UPDATE audit_log SET seq = seq WHERE 1 = 0"))


@contextmanager
def serialized(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the chain lock from its first statement to commit."""
    with engine.connect() as conn:
        conn.begin()   # zdr.store.db engines emit BEGIN IMMEDIATE here on SQLite
        if conn.dialect.name == "sqlite":
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and not getattr(dbapi, "in_transaction", True):
                conn.exec_driver_sql("BEGIN IMMEDIATE")   # a plain pysqlite engine
        lock_chain(conn)
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def append(
    conn: Connection, *, actor: str, role: str, org_id: str | None, action: str,
    target: str | None = None, before: Any = None, after: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's serialized transaction."""
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    fields: dict[str, Any] = {
        "seq": 1 if last is None else last.seq + 1,
        "at": (at or datetime.now(UTC)).astimezone(UTC),
        "actor": actor, "role": role, "org_id": org_id, "action": action, "target": target,
        "before": plain(before), "after": plain(after),
        "prev_hash": GENESIS if last is None else last.hash,
    }
    fields["hash"] = entry_hash(fields)
    conn.execute(audit_log.insert().values(**fields))
    return AuditEntry(**fields)


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def entries(
    conn: Connection, *, org_id: str | None = None, after_seq: int = 0, limit: int = 100
) -> list[AuditEntry]:
    query = select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq)
    if org_id is not None:
        query = query.where(audit_log.c.org_id == org_id)
    return [AuditEntry(**{**row._mapping, "at": utc(row.at)})
            for row in conn.execute(query.limit(limit))]


def verify_chain(conn: Connection, expect_head: str | None = None) -> ChainReport:
    """Recompute the chain; name the first entry that was edited, deleted or reordered.

    Deleting the newest entries leaves a shorter valid chain: pass the head hash printed by an
    earlier verification as `expect_head` to catch that too.
    """
    prev_hash, expected_seq, seen = GENESIS, 1, {GENESIS: 0}
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
        fields = dict(row._mapping)
        problem = _check(fields, expected_seq, prev_hash, seen)
        if problem is not None:
            kind, bad, message = problem
            return ChainReport(False, expected_seq - 1, prev_hash, kind, bad, message)
        seen[fields["hash"]] = fields["seq"]
        prev_hash, expected_seq = fields["hash"], expected_seq + 1
    entries_count = expected_seq - 1
    if expect_head is not None and expect_head != prev_hash and expect_head not in seen:
        return ChainReport(False, entries_count, prev_hash, "deleted", entries_count + 1,
                           f"the expected head is gone: entries after {entries_count} were deleted")
    return ChainReport(True, entries_count, prev_hash)


def _check(
    fields: dict[str, Any], seq: int, prev_hash: str, seen: dict[str, int]
) -> tuple[Problem, int, str] | None:
    if fields["seq"] != seq:
        return "deleted", seq, f"entry {seq} is missing (deleted)"
    if entry_hash(fields) != fields["hash"]:
        if fields["prev_hash"] != prev_hash and _moved(fields, seen):
            return "reordered", seq, f"entry {seq} is out of order (reordered)"
        return "edited", seq, f"entry {seq} was edited: its hash does not match its content"
    if fields["prev_hash"] != prev_hash:
        if fields["prev_hash"] in seen:
            return "reordered", seq, f"entry {seq} is out of order (reordered)"
        return "edited", seq - 1, (f"entry {seq - 1} was rewritten (its hash recomputed): "
                                   f"entry {seq} no longer follows it")
    return None


def _moved(fields: dict[str, Any], seen: dict[str, int]) -> bool:
    """Does the entry verify at the position its own prev_hash points to?"""
    origin = seen.get(fields["prev_hash"])
    if origin is None:
        return _later_position(fields)
    return bool(entry_hash({**fields, "seq": origin + 1}) == fields["hash"])


def _later_position(fields: dict[str, Any]) -> bool:
    """An entry pointing at a hash not yet seen: check small forward moves (swaps)."""
    return any(entry_hash({**fields, "seq": fields["seq"] + step}) == fields["hash"]
               for step in range(1, 4))
