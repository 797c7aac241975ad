"""The audit log: append-only and keyed-hash-chained, so any edit, insertion, deletion or
reordering shows — also one whose attacker recomputed every later link.

Each entry's link (`hash`) is HMAC-SHA256, under the audit-chain key, over the previous entry's
link and the entry's canonical JSON (RFC 8785: its sequence number, time, actor, role, org,
action, target, before/after):

    link(n) = HMAC(K, "zdr-audit/v1\\n" || link(n-1) || "\\n" || JCS(entry n)),  link(0) = "0"*64

K is derived from the master key (`ChainKey.from_master_key`; HKDF, never stored in the
database), so someone who can write to the database but lacks the master key cannot make a
changed entry verify. Signed checkpoints of the head (`zdr.control.checkpoints`) cover the case
of an attacker who has the master key too; see SECURITY.md for who can do what.

A store upgraded from the earlier plain SHA-256 chain keeps those links until its first
action with the key: `relink` then checks the old chain, re-links every entry once and appends
an `audit.chain_keyed` entry that records the old head and what the check found.

Appends are serialized (SQLite: the whole write transaction starts with BEGIN IMMEDIATE;
PostgreSQL: a transaction-scoped advisory lock), so two concurrent actions can never both extend
the same head. Entries say who did what to which settings; they never hold content or secrets.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Engine, func, select, text, update

from zdr.errors import StoreUnavailable
from zdr.proof.canonical import canonical, instant
from zdr.store.crypto import derived_key
from zdr.store.db import utc
from zdr.store.tables import audit_checkpoints, audit_log

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 0x7A6472_61756469  # "zdr" "audi": the advisory lock every appender takes
LINK_DOMAIN = b"zdr-audit/v1\n"
RELINK_ACTION = "audit.chain_keyed"

Problem = Literal["edited", "deleted", "reordered", "inserted", "rewritten", "unkeyed"]


class ChainBroken(StoreUnavailable):
    """The chain cannot be extended safely (e.g. keyed by another master key)."""


@dataclass(frozen=True)
class ChainKey:
    """The audit chain's HMAC key and its public id (a hash of it: reveals nothing of it)."""

    secret: bytes = field(repr=False)
    id: str

    @classmethod
    def from_secret(cls, secret: bytes) -> ChainKey:
        digest = hashlib.sha256(b"zdr-audit-key-id/v1\n" + secret).hexdigest()
        return cls(secret, digest[:16])

    @classmethod
    def from_master_key(cls, master_key: bytes) -> ChainKey:
        return cls.from_secret(derived_key(master_key, "audit-chain"))


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
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head known from outside the chain: a signed checkpoint, a file, an `--expect-head`."""

    seq: int | None        # None: an `--expect-head` given without its entry number
    head: str
    source: str            # "checkpoint 3", "--expect-head", "checkpoint file x.json"


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head: str
    problem: Problem | None = None
    seq: int | None = None      # the first entry that is edited, missing, out of order
    message: str = "the audit chain verifies"
    keyed: bool = True          # False: the chain still has its plain SHA-256 links
    key_checked: bool = True    # False: verified without the key (links not recomputed)
    anchored: int = 0           # the last entry a signed checkpoint or given head confirms
    anchors: int = 0            # how many anchors were compared


def plain(value: Any) -> Any:
    """`value` as JSON data exactly as it will read back from the database."""
    return None if value is None else orjson.loads(orjson.dumps(value, default=str))


def entry_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": fields["seq"], "at": instant(fields["at"]), "actor": fields["actor"],
        "role": fields["role"], "org_id": fields["org_id"], "action": fields["action"],
        "target": fields["target"], "before": fields["before"], "after": fields["after"],
    }


def entry_link(key: ChainKey, fields: Mapping[str, Any]) -> str:
    """The keyed link of an entry: HMAC over the previous link and the canonical entry."""
    message = LINK_DOMAIN + fields["prev_hash"].encode("ascii") + b"\n" + canonical(
        entry_body(fields))
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


def legacy_hash(fields: Mapping[str, Any]) -> str:
    """The plain SHA-256 link of the chain before it was keyed (anyone can recompute it)."""
    body = {**entry_body(fields), "prev_hash": fields["prev_hash"]}
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


_LAST = select(audit_log.c.seq, audit_log.c.hash, audit_log.c.key_id) \
    .order_by(audit_log.c.seq.desc()).limit(1)


def append(
    conn: Connection, key: ChainKey, *, actor: str, role: str, org_id: str | None,
    action: str, target: str | None = None, before: Any = None, after: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's serialized transaction (re-linking a chain that
    is not keyed yet first, see `relink`)."""
    last = conn.execute(_LAST).first()
    when = (at or datetime.now(UTC)).astimezone(UTC)
    if last is not None and last.key_id != key.id:
        relink(conn, key, when)
        last = conn.execute(_LAST).first()
    return _insert(conn, key, last, actor=actor, role=role, org_id=org_id, action=action,
                   target=target, before=before, after=after, at=when)


def _insert(
    conn: Connection, key: ChainKey, last: Any, *, at: datetime, **values: Any
) -> AuditEntry:
    fields: dict[str, Any] = {
        "seq": 1 if last is None else last.seq + 1, "at": at,
        **values, "before": plain(values["before"]), "after": plain(values["after"]),
        "prev_hash": GENESIS if last is None else last.hash,
    }
    fields["hash"] = entry_link(key, fields)
    fields["key_id"] = key.id
    conn.execute(audit_log.insert().values(**fields))
    return AuditEntry(**fields)


def relink(conn: Connection, key: ChainKey, at: datetime) -> AuditEntry:
    """Key a chain that still has plain SHA-256 links, once, and audit that.

    Refused (`ChainBroken`) when any entry is already keyed — under another master key, or a
    keyed chain someone partly reverted — and when signed checkpoints exist: re-linking then
    would launder whatever was changed. The old chain is checked first; the result (intact, or
    where it broke) is recorded in the `audit.chain_keyed` entry, which the new links protect.
    """
    keyed = conn.execute(select(audit_log.c.seq, audit_log.c.key_id)
                         .where(audit_log.c.key_id.is_not(None)).limit(1)).first()
    if keyed is not None:
        raise ChainBroken(
            f"the audit chain is keyed with key {keyed.key_id}, not this master key's "
            f"({key.id}); was the master key replaced? Nothing was appended")
    if conn.execute(select(audit_checkpoints.c.id).limit(1)).first() is not None:
        raise ChainBroken("the audit chain lost its keyed links although it has signed "
                          "checkpoints: run `zdr audit verify`; nothing was appended")
    old = verify_chain(conn, None)     # the plain chain, as it stands
    prev, count = GENESIS, 0
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)).all():
        fields = {**row._mapping, "at": utc(row.at), "prev_hash": prev}
        link = entry_link(key, fields)
        conn.execute(update(audit_log).where(audit_log.c.seq == row.seq)
                     .values(prev_hash=prev, hash=link, key_id=key.id))
        prev, count = link, row.seq
    last = conn.execute(select(audit_log.c.seq, audit_log.c.hash)
                        .order_by(audit_log.c.seq.desc()).limit(1)).first()
    return _insert(
        conn, key, last, at=at, actor="system:zdr", role="system", org_id=None,
        action=RELINK_ACTION, target=None,
        before={"links": "sha256", "entries": old.entries, "head": old.head,
                "check": "intact" if old.ok else old.message},
        after={"links": "hmac-sha256", "key_id": key.id, "entries": count, "head": prev},
    )


def ensure_keyed(engine: Engine, key: ChainKey, at: datetime | None = None) -> bool:
    """Re-link a chain that is not keyed yet (after an upgrade); True if it did."""
    with serialized(engine) as conn:
        last = conn.execute(select(audit_log.c.key_id).order_by(audit_log.c.seq.desc())
                            .limit(1)).first()
        if last is None or last.key_id == key.id:
            return False
        relink(conn, key, (at or datetime.now(UTC)).astimezone(UTC))
        return True


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def head(conn: Connection) -> tuple[int, str]:
    """(entry number, link) of the newest entry; (0, GENESIS) for an empty chain."""
    row = conn.execute(select(audit_log.c.seq, audit_log.c.hash)
                       .order_by(audit_log.c.seq.desc()).limit(1)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def entries(
    conn: Connection, *, org_id: str | None = None, after_seq: int = 0, limit: int = 100
) -> list[AuditEntry]:
    query = select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq)
    if org_id is not None:
        query = query.where(audit_log.c.org_id == org_id)
    return [AuditEntry(**{**row._mapping, "at": utc(row.at)})
            for row in conn.execute(query.limit(limit))]


def parse_head(text: str) -> Anchor:
    """`--expect-head` as printed by `zdr audit verify`: `SEQ:LINK`, or the link alone."""
    seq_text, _, link = text.strip().rpartition(":")
    seq = int(seq_text) if seq_text.isdigit() else None
    return Anchor(seq, link.lower(), "--expect-head")


# -------------------------------------------------------------------------------- verifying
def verify_chain(
    conn: Connection, key: ChainKey | None, expect_head: str | None = None,
    anchors: Iterable[Anchor] = (),
) -> ChainReport:
    """Recompute the chain; name the first entry that was edited, inserted, deleted or
    reordered. Then compare it with every anchor (signed checkpoints, a head printed earlier):
    a chain rewritten consistently — or cut short — shows there, as "rewritten or deleted after
    entry N", N being the last entry an anchor still confirms.

    Without `key` the links cannot be recomputed: only the order and the checkpoints are
    checked (`key_checked` False)."""
    walk = _Walk(key)
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
        if not walk.step(dict(row._mapping)):
            break
    given = list(anchors) + ([parse_head(expect_head)] if expect_head else [])
    return walk.report(given)


@dataclass
class _Walk:
    key: ChainKey | None
    prev: str = GENESIS
    expected: int = 1
    legacy: bool | None = None
    seen: dict[str, int] = field(default_factory=lambda: {GENESIS: 0})
    links: list[str] = field(default_factory=lambda: [GENESIS])     # links[n]: entry n's
    failure: tuple[Problem, int, str] | None = None

    def step(self, fields: dict[str, Any]) -> bool:
        legacy = fields["key_id"] is None
        if self.legacy is None:
            self.legacy = legacy
        seq = self.expected
        if legacy != self.legacy:
            self.failure = ("unkeyed", seq, f"entry {seq} is not linked like the entries "
                            "before it (keyed and plain links mixed): edited")
            return False
        problem = self._check(fields, seq)
        if problem is not None:
            self.failure = problem
            return False
        self.seen[fields["hash"]] = fields["seq"]
        self.links.append(fields["hash"])
        self.prev, self.expected = fields["hash"], seq + 1
        return True

    def _link(self, fields: Mapping[str, Any]) -> str | None:
        if self.legacy:
            return legacy_hash(fields)
        if self.key is None:
            return None
        return entry_link(self.key, fields)

    def _check(self, fields: dict[str, Any], seq: int) -> tuple[Problem, int, str] | None:
        if fields["seq"] != seq:
            return "deleted", seq, f"entry {seq} is missing (deleted)"
        key = self.key
        if not self.legacy and key is not None and fields["key_id"] != key.id:
            return "edited", seq, (f"entry {seq} claims audit key {fields['key_id']}, not "
                                   f"this deployment's ({key.id}): edited or inserted")
        link = self._link(fields)
        if link is not None and not hmac.compare_digest(link, fields["hash"]):
            if fields["prev_hash"] != self.prev and self._moved(fields):
                return "reordered", seq, f"entry {seq} is out of order (reordered)"
            return "edited", seq, (f"entry {seq} was edited or inserted: its link does not "
                                   "match its content")
        if fields["prev_hash"] != self.prev:
            if fields["prev_hash"] in self.seen:
                return "reordered", seq, f"entry {seq} is out of order (reordered)"
            return "edited", seq - 1, (f"entry {seq - 1} was rewritten (its link recomputed): "
                                       f"entry {seq} no longer follows it")
        return None

    def _moved(self, fields: dict[str, Any]) -> bool:
        """Does the entry verify at the position its own prev_hash points to (or a little
        later: swapped entries)?"""
        origin = self.seen.get(fields["prev_hash"])
        positions = [origin + 1] if origin is not None else [
            fields["seq"] + step for step in range(1, 4)]
        return any(self._link({**fields, "seq": p}) == fields["hash"] for p in positions)

    def report(self, anchors: list[Anchor]) -> ChainReport:
        entries = self.expected - 1
        keyed = not self.legacy
        key_checked = bool(self.legacy) or self.key is not None
        confirmed, broken = self._anchor(anchors)
        common: dict[str, Any] = {"keyed": keyed, "key_checked": key_checked,
                                  "anchored": confirmed, "anchors": len(anchors)}
        if self.failure is not None:
            kind, bad, message = self.failure
            if anchors:
                message += f" (rewritten or deleted after entry {min(confirmed, bad - 1)})"
            return ChainReport(False, entries, self.prev, kind, bad, message, **common)
        if broken is not None:
            where = "" if broken.seq is None else f" at entry {broken.seq}"
            return ChainReport(
                False, entries, self.prev, "rewritten", confirmed + 1,
                f"the chain no longer matches the {broken.source}{where}: rewritten or "
                f"deleted after entry {confirmed}", **common)
        if not keyed:
            message = (f"the audit chain verifies with plain SHA-256 links ({entries} entries): "
                       "it is keyed at the first control-plane action with the master key")
        elif not key_checked:
            message = "links not recomputed (no master key): only order and checkpoints checked"
        else:
            message = "the audit chain verifies"
        return ChainReport(True, entries, self.prev, message=message, **common)

    def _anchor(self, anchors: list[Anchor]) -> tuple[int, Anchor | None]:
        """(last entry confirmed by an anchor, the first anchor that fails)."""
        good_limit = self.expected - 1 if self.failure is None else self.failure[1] - 1
        results: list[tuple[Anchor, bool]] = []
        for anchor in anchors:
            seq = anchor.seq if anchor.seq is not None else self.seen.get(anchor.head)
            ok = seq is not None and seq <= good_limit and self._link_at(seq) == anchor.head
            results.append((Anchor(seq, anchor.head, anchor.source), ok))
        confirmed = max((a.seq or 0 for a, ok in results if ok), default=0)
        failing = [a for a, ok in results if not ok]
        if not failing:
            return confirmed, None
        first = min(failing, key=lambda a: a.seq if a.seq is not None else 2**62)
        below = [a.seq or 0 for a, ok in results if ok
                 and (first.seq is None or (a.seq or 0) < first.seq)]
        return max(below, default=0), first

    def _link_at(self, seq: int) -> str | None:
        return self.links[seq] if 0 <= seq < len(self.links) else None
