"""Signed checkpoints of the audit chain: its head at entry N, signed with the deployment's
Ed25519 key (`zdr.proof.signing`).

A checkpoint is written in the same transaction as the entry that makes it due — when
`every_entries` entries or `every_seconds` have passed since the last one — and on demand
(`zdr audit checkpoint`, which also writes it to a file to keep elsewhere). Its payload:

    {"type":"zdr.audit-checkpoint/v1","entry":N,"head":"<link of entry N>","at":"…Z",
     "audit_key_id":"…","signing_key_id":"…"}

signed over its RFC 8785 bytes; exported as a signed document (`zdr.proof.envelope`).

Why: the chain's links are keyed with a key derived from the master key, so someone with the
master key AND write access to the database could rewrite the chain and recompute every link.
They cannot re-sign the checkpoints without the signing key: `verify` compares every stored
(or kept) checkpoint with the recomputed chain and says after which entry it was rewritten.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from zdr.control import audit
from zdr.proof import envelope, registry
from zdr.proof.canonical import canonical, instant
from zdr.proof.signing import Signer, key_id_of, load_public_key, public_key_pem, verify
from zdr.store.db import utc
from zdr.store.tables import audit_checkpoints, audit_log

CHECKPOINT_TYPE = "zdr.audit-checkpoint/v1"
KEY_ADDED = "signing_key.add"
KEY_ROTATED = "signing_key.rotate"     # zdr.control.evidence: an operator's rotation


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    entry_seq: int
    head: str
    at: datetime
    chain_key_id: str
    signing_key_id: str
    signature: str          # base64

    def payload(self) -> dict[str, Any]:
        return {"type": CHECKPOINT_TYPE, "entry": self.entry_seq, "head": self.head,
                "at": instant(self.at), "audit_key_id": self.chain_key_id,
                "signing_key_id": self.signing_key_id}

    def document(self, public_pem: str) -> bytes:
        """This checkpoint as a signed file (`zdr attest verify` and `zdr audit verify
        --checkpoint` read it)."""
        body = {"format": envelope.FORMAT, "payload": self.payload(), "public_key": public_pem,
                "signature": {"alg": "Ed25519", "key_id": self.signing_key_id,
                              "value": self.signature}}
        return canonical(body) + b"\n"


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    every_entries: int = 100
    every_seconds: float = 600.0


_LAST = select(audit_checkpoints).order_by(audit_checkpoints.c.id.desc()).limit(1)


def last_checkpoint(conn: Connection) -> Checkpoint | None:
    row = conn.execute(_LAST).first()
    return None if row is None else _from_row(row)


def all_checkpoints(conn: Connection) -> list[Checkpoint]:
    return [_from_row(r) for r in conn.execute(select(audit_checkpoints)
                                               .order_by(audit_checkpoints.c.id))]


def _from_row(row: Any) -> Checkpoint:
    return Checkpoint(row.id, row.entry_seq, row.head, utc(row.at), row.chain_key_id,
                      row.signing_key_id, row.signature)


class Cadence:
    """When the next checkpoint is due. Remembers the last checkpoint this process wrote or
    read, so an ordinary append costs no query (bench/attest.py: the keyed chain's cost per
    action); another process's checkpoint it has not seen can only make it sign sooner."""

    def __init__(self) -> None:
        self._last: tuple[int, datetime] | None = None

    def due(self, conn: Connection, entry: audit.AuditEntry, policy: CheckpointPolicy) -> bool:
        if self._last is None:
            found = last_checkpoint(conn)
            if found is None:
                return True
            self._last = (found.entry_seq, found.at)
        seq, at = self._last
        return entry.seq - seq >= policy.every_entries \
            or utc(entry.at) - at >= timedelta(seconds=policy.every_seconds)

    def wrote(self, checkpoint: Checkpoint) -> None:
        self._last = (checkpoint.entry_seq, checkpoint.at)

    def forget(self) -> None:
        """After a rolled-back transaction: what it wrote may not exist."""
        self._last = None


def list_signing_key(conn: Connection, key: audit.ChainKey, signer: Signer,
                     at: datetime) -> None:
    """List the signer's public key (audited) if it is not listed yet."""
    if registry.list_key(conn, signer, at):
        audit.append(conn, key, actor="system:zdr", role="system", org_id=None,
                     action=KEY_ADDED, target=signer.key_id, at=at,
                     after={"key_id": signer.key_id, "public_key": signer.public_pem})


def write_checkpoint(conn: Connection, key: audit.ChainKey, signer: Signer,
                     at: datetime) -> Checkpoint:
    """Sign the current head, inside the caller's serialized transaction."""
    at = utc(at)
    list_signing_key(conn, key, signer, at)
    seq, head = audit.head(conn)
    unsigned = Checkpoint(0, seq, head, at, key.id, signer.key_id, "")
    signature = base64.b64encode(signer.sign(canonical(unsigned.payload()))).decode()
    new_id = conn.execute(audit_checkpoints.insert().values(
        entry_seq=seq, head=head, at=at, chain_key_id=key.id, signing_key_id=signer.key_id,
        signature=signature,
    ).returning(audit_checkpoints.c.id)).scalar_one()
    return Checkpoint(int(new_id), seq, head, at, key.id, signer.key_id, signature)


# -------------------------------------------------------------------------------- verifying
def trusted_keys(conn: Connection, pinned: Iterable[str] = ()) -> dict[str, str]:
    """key id -> PEM of the keys a local verification trusts: those pinned by the caller, and
    those whose listing is an entry of the audit chain (which the chain check then covers)."""
    trusted: dict[str, str] = {}
    for pem in pinned:
        public = load_public_key(pem)
        trusted[key_id_of(public)] = public_key_pem(public)
    rows = conn.execute(select(audit_log.c.target, audit_log.c.after)
                        .where(audit_log.c.action.in_((KEY_ADDED, KEY_ROTATED))))
    for row in rows:
        after = row.after if isinstance(row.after, dict) else {}
        listed = after.get("public_key")
        if isinstance(listed, str) and row.target not in trusted:
            try:
                trusted[str(row.target)] = public_key_pem(load_public_key(listed))
            except ValueError:
                continue
    return trusted


def stored_anchors(
    checkpoints: list[Checkpoint], trusted: dict[str, str], chain_key_id: str | None
) -> tuple[list[audit.Anchor], list[str]]:
    """Anchors from stored checkpoints whose signature verifies; problems for the others."""
    anchors: list[audit.Anchor] = []
    problems: list[str] = []
    for cp in checkpoints:
        pem = trusted.get(cp.signing_key_id)
        if pem is None:
            problems.append(f"checkpoint {cp.id} (entry {cp.entry_seq}) is signed by key "
                            f"{cp.signing_key_id}, which is not a listed signing key: forged")
            continue
        try:
            signature = base64.b64decode(cp.signature, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if not verify(load_public_key(pem), signature, canonical(cp.payload())):
            problems.append(f"checkpoint {cp.id} (entry {cp.entry_seq}): its signature does "
                            "not match: altered or forged")
            continue
        if chain_key_id is not None and cp.chain_key_id != chain_key_id:
            continue        # another master key's chain: nothing to compare with
        anchors.append(audit.Anchor(cp.entry_seq, cp.head, f"signed checkpoint {cp.id}"))
    return anchors, problems


def file_anchor(data: bytes, name: str, trusted: dict[str, str]) -> audit.Anchor:
    """An anchor from a checkpoint file; `envelope.InvalidDocument` if it does not verify."""
    opened = envelope.open_document(data, list(trusted.values()))
    payload = opened.payload
    if payload.get("type") != CHECKPOINT_TYPE or not isinstance(payload.get("entry"), int) \
            or not isinstance(payload.get("head"), str):
        raise envelope.InvalidDocument(f"{name} is not an audit checkpoint")
    return audit.Anchor(payload["entry"], payload["head"], f"checkpoint file {name}")


def verify_with_checkpoints(
    conn: Connection, key: audit.ChainKey | None, trusted: dict[str, str],
    expect_head: str | None = None, extra: Iterable[audit.Anchor] = (),
) -> audit.ChainReport:
    """The chain check against every stored checkpoint and the anchors given."""
    stored = all_checkpoints(conn)
    anchors, problems = stored_anchors(stored, trusted, None if key is None else key.id)
    report = audit.verify_chain(conn, key, expect_head, [*anchors, *extra])
    if problems and report.ok:
        return audit.ChainReport(False, report.entries, report.head, "rewritten", None,
                                 problems[0], report.keyed, report.key_checked,
                                 report.anchored, report.anchors)
    return report
