"""The attestation log: every signed statement and receipt, in order, each committing to the
previous one's hash inside its own signed payload (`"log": {"seq": n, "previous": "…"}`).

Dropping, editing or reordering a document breaks the link to the next one; `verify_log` checks
every document's signature and link. The log's appends are serialized by the audit chain's lock
(documents are issued inside an audited control-plane action).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from zdr.proof.envelope import InvalidDocument, open_document
from zdr.store.db import utc
from zdr.store.tables import attestations

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    kind: str
    org_id: str | None
    issued_at: datetime
    hash: str
    prev_hash: str
    document: str

    def summary(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "org_id": self.org_id,
                "issued_at": self.issued_at.isoformat(), "hash": self.hash,
                "prev_hash": self.prev_hash}


@dataclass(frozen=True, slots=True)
class LogReport:
    ok: bool
    entries: int
    head: str
    message: str = "the attestation log verifies"
    seq: int | None = None


def next_link(conn: Connection) -> dict[str, Any]:
    """The `log` part of the next document: its number and the previous document's hash."""
    row = conn.execute(select(attestations.c.seq, attestations.c.hash)
                       .order_by(attestations.c.seq.desc()).limit(1)).first()
    return {"seq": 1, "previous": GENESIS} if row is None else {
        "seq": int(row.seq) + 1, "previous": str(row.hash)}


def append(conn: Connection, *, kind: str, org_id: str | None, issued_at: datetime,
           link: dict[str, Any], digest: str, document: bytes) -> LogEntry:
    entry = LogEntry(int(link["seq"]), kind, org_id, utc(issued_at), digest,
                     str(link["previous"]), document.decode("utf-8"))
    conn.execute(attestations.insert().values(
        seq=entry.seq, kind=kind, org_id=org_id, issued_at=entry.issued_at,
        document=entry.document, prev_hash=entry.prev_hash, hash=digest))
    return entry


def _entry(row: Any) -> LogEntry:
    return LogEntry(row.seq, row.kind, row.org_id, utc(row.issued_at), row.hash, row.prev_hash,
                    row.document)


def entries(conn: Connection, org_id: str | None = None, limit: int = 100,
            kind: str | None = None) -> list[LogEntry]:
    """Newest first."""
    query = select(attestations).order_by(attestations.c.seq.desc()).limit(limit)
    if org_id is not None:
        query = query.where(attestations.c.org_id == org_id)
    if kind is not None:
        query = query.where(attestations.c.kind == kind)
    return [_entry(r) for r in conn.execute(query)]


def get(conn: Connection, seq: int) -> LogEntry | None:
    row = conn.execute(select(attestations).where(attestations.c.seq == seq)).first()
    return None if row is None else _entry(row)


def verify_log(conn: Connection, trusted_pems: list[str] | None) -> LogReport:
    """Check every document's signature and its link to the one before."""
    previous, expected = GENESIS, 1
    for row in conn.execute(select(attestations).order_by(attestations.c.seq)):
        if row.seq != expected:
            return LogReport(False, expected - 1, previous, f"document {expected} is missing",
                             expected)
        try:
            opened = open_document(row.document.encode("utf-8"), trusted_pems)
        except InvalidDocument as error:
            return LogReport(False, expected - 1, previous, f"document {row.seq}: {error}",
                             row.seq)
        link = opened.payload.get("log") or {}
        if opened.digest != row.hash or link.get("seq") != row.seq \
                or link.get("previous") != previous or row.prev_hash != previous:
            return LogReport(False, expected - 1, previous,
                             f"document {row.seq} does not follow document {row.seq - 1}",
                             row.seq)
        previous, expected = row.hash, expected + 1
    return LogReport(True, expected - 1, previous)
