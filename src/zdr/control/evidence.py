"""Evidence for customers and auditors, as a control-plane service: the signing key's public
halves, signed statements, erasure receipts and the attestation log (`zdr.proof`).

Every document issued is appended to the attestation log and audited (who issued what, its
hash); documents never carry content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from zdr.catalog import CatalogError, load_catalog
from zdr.control import audit, checkpoints
from zdr.control.context import guarded_org
from zdr.control.roles import Actor, system_actor
from zdr.end_users import EndUsers
from zdr.errors import InvalidRequest, NotFound, StoreUnavailable
from zdr.proof import envelope, ledger, proofs, receipts, registry, statements
from zdr.proof.canonical import instant
from zdr.proof.records import Period
from zdr.proof.signing import Signer
from zdr.store import erasure_records
from zdr.store.db import utc
from zdr.store.deletion import receipts_owed
from zdr.store.end_user_erasure import erase_end_user
from zdr.store.erasure_records import ErasureReport
from zdr.store.holds import active_holds

if TYPE_CHECKING:
    from zdr.control.context import ControlContext


class Evidence:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def signer(self) -> Signer:
        signer = self.ctx.signer
        if not isinstance(signer, Signer):
            raise StoreUnavailable("no signing key: set ZDR_SIGNING_KEY or run `zdr init`")
        return signer

    def public_keys(self) -> list[registry.ListedKey]:
        """Every public key the deployment has signed with (public: no role needed). The key in
        use is listed on first use, audited."""
        signer = self.ctx.signer
        if isinstance(signer, Signer) and self.ctx.chain_key is not None:
            with self.ctx.read() as conn:
                listed = registry.is_listed(conn, signer.key_id)
            if not listed:
                with self.ctx.write() as conn:
                    checkpoints.list_signing_key(conn, self.ctx.audit_key(), signer,
                                                 self.ctx.now())
        with self.ctx.read() as conn:
            return registry.listed_keys(conn)

    def adopt_key(self, actor: Actor, new: Signer) -> registry.ListedKey:
        """Start signing with `new` (already written where the home keeps its key): list it,
        retire the previous key (still listed: what it signed still verifies), audit it and
        sign the chain head with the new key."""
        self.ctx.guard(actor, "evidence.rotate_key", None)
        old = self.ctx.signer
        with self.ctx.write() as conn:
            key = self.ctx.audit_key()
            registry.list_key(conn, new, self.ctx.now())
            self.ctx.record(conn, actor, checkpoints.KEY_ROTATED, None, target=new.key_id,
                            before={"key_id": old.key_id if isinstance(old, Signer) else None},
                            after={"key_id": new.key_id, "public_key": new.public_pem})
            self.ctx.signer = new
            checkpoints.write_checkpoint(conn, key, new, self.ctx.now())
            return next(k for k in registry.listed_keys(conn) if k.key_id == new.key_id)

    # -- statements and proofs -------------------------------------------------------------
    def issue_statement(self, actor: Actor, org_ref: str, since: datetime,
                        until: datetime) -> Issued:
        """Sign a statement for one org and period, log it and audit it."""
        with self.ctx.read() as conn:
            org = guarded_org(self.ctx, conn, actor, "evidence.issue", org_ref)
        if utc(until) <= utc(since):
            raise InvalidRequest("the period must end after it starts (until > since)")
        period = Period(since, until)
        now = self.ctx.now()
        settings = self.ctx.settings
        catalog_path = None if settings is None else settings.catalog_path
        with self.ctx.read() as conn:
            body = statements.gather(conn, org, period, self.ctx.catalog, catalog_path,
                                     self._known_catalogs(), now)
        body["verify"] = self._checks(org.id, now)
        return self._issue(actor, "statement", org.id, body)

    def prove(self, actor: Actor, statement_document: bytes, exchange_id: str) -> Issued:
        """An inclusion proof of one exchange's metadata record in a statement we signed."""
        try:
            opened = envelope.open_document(statement_document, self._trusted())
        except envelope.InvalidDocument as error:
            raise InvalidRequest(f"the statement does not verify: {error}") from None
        statement = opened.payload
        if statement.get("type") != statements.STATEMENT_TYPE:
            raise InvalidRequest("that file is not a statement")
        with self.ctx.read() as conn:
            self.ctx.guard(actor, "evidence.read", statement["org"]["id"])
            payload = proofs.build(conn, statement_document, statement, opened.digest,
                                   exchange_id)
        signer = self.signer()
        return Issued(envelope.seal(payload, signer), payload, None)

    def log(self, actor: Actor, org_ref: str | None = None,
            limit: int = 100) -> list[ledger.LogEntry]:
        with self.ctx.read() as conn:
            if org_ref is None:
                self.ctx.guard(actor, "evidence.read", None)
                return ledger.entries(conn, limit=max(1, min(limit, 1000)))
            org = guarded_org(self.ctx, conn, actor, "evidence.read", org_ref, deleted=None)
            return ledger.entries(conn, org.id, limit=max(1, min(limit, 1000)))

    def document(self, actor: Actor, seq: int) -> ledger.LogEntry:
        with self.ctx.read() as conn:
            entry = ledger.get(conn, seq)
            if entry is None:
                raise NotFound("no such document")
            self.ctx.guard(actor, "evidence.read", entry.org_id)
            return entry

    def verify_log(self, actor: Actor) -> ledger.LogReport:
        self.ctx.guard(actor, "evidence.read", None)
        with self.ctx.read() as conn:
            return ledger.verify_log(conn, self._trusted())

    # -- erasure receipts ------------------------------------------------------------------
    def erase_end_user(self, actor: Actor, org_ref: str, user_id: str) -> Issued:
        """Delete one end user's content and feature artifacts, unlink their metadata, and
        issue a signed receipt (org owners for their org; provider admins)."""
        if not user_id.strip():
            raise InvalidRequest("name the end user (the metadata.user_id the client sends)")
        key = self.ctx.end_user_key
        if key is None:
            raise StoreUnavailable("end users cannot be found without the master key")
        with self.ctx.read() as conn:
            org = guarded_org(self.ctx, conn, actor, "end_user.erase", org_ref)
        hashes = EndUsers(key).candidates(user_id)
        erasure = erase_end_user(self.ctx.engine, org.id, hashes, self.ctx.now())
        with self.ctx.read() as conn:
            standing = active_holds(conn, org.id)
        body = receipts.end_user_receipt(org, erasure, standing, self.ctx.now())
        return self._issue(actor, "receipt", org.id, body)

    def org_erasure_receipt(self, report: ErasureReport) -> Issued:
        """The signed receipt of an org's erasure (`zdr purge` and the sweeper issue it). An
        erasure recorded in `org_erasures` gets one receipt: issued again, the one in the log
        is returned."""
        record_id = report.record_id
        if record_id is not None:
            issued = self._issued_receipt(record_id)
            if issued is not None:
                return issued
        with self.ctx.read() as conn:
            org = statements.find_org(conn, report.org_id)
            if org is None:
                raise NotFound("organization not found")
            standing = active_holds(conn, org.id)
        body = receipts.org_receipt(org, report, standing)
        try:
            return self._issue(system_actor("erasure"), "receipt", org.id, body,
                               settles=record_id)
        except _AlreadySettled:         # another process issued it a moment ago
            assert record_id is not None
            issued = self._issued_receipt(record_id)
            assert issued is not None
            return issued

    def owed_erasure_receipts(self) -> list[Issued]:
        """Issue every erasure receipt still owed (an erasure whose process died before its
        receipt was signed, or whose signing failed): the sweeper and `zdr purge` call this."""
        return [self.org_erasure_receipt(report) for report in receipts_owed(self.ctx.engine)]

    def _issued_receipt(self, record_id: str) -> Issued | None:
        with self.ctx.read() as conn:
            seq = erasure_records.receipt_seq(conn, record_id)
            entry = None if seq is None else ledger.get(conn, seq)
        if entry is None:
            return None
        document = entry.document.encode("utf-8")
        return Issued(document, envelope.open_document(document).payload, entry)

    # -- internals ---------------------------------------------------------------------------
    def _trusted(self) -> list[str]:
        with self.ctx.read() as conn:
            pems = list(checkpoints.trusted_keys(conn).values())
        signer = self.ctx.signer
        if isinstance(signer, Signer):
            pems.append(signer.public_pem)
        return pems

    def _known_catalogs(self) -> dict[str, str]:
        """version -> SHA-256 of every catalog file the deployment still has."""
        settings = self.ctx.settings
        known = {self.ctx.catalog.version: statements.catalog_sha256(
            None if settings is None else settings.catalog_path)}
        if settings is not None:
            archive = settings.home / "catalogs"
            for path in sorted(archive.glob("*.toml")) if archive.is_dir() else []:
                try:
                    known.setdefault(load_catalog(path).version,
                                     statements.catalog_sha256(path))
                except (CatalogError, OSError):
                    continue
        return known

    def _checks(self, org_id: str, now: datetime) -> dict[str, Any]:
        """`zdr verify`'s store checks for this org at issue time: names, verdicts, counts."""
        settings = self.ctx.settings
        if settings is None:
            return {"ran": False, "ok": False, "reason": "no deployment settings"}
        from zdr.verify.run import VerifyOptions, run_verify

        report = run_verify(settings, VerifyOptions(at=now, org_id=org_id), self.ctx.engine)
        return {"ran": True, "ok": report.ok, "checked_at": instant(now), "scope": "org",
                "checks": [{"name": c.name, "status": c.status, "examined": c.examined,
                            "violations": len(c.violations)} for c in report.checks]}

    def _issue(self, actor: Actor, kind: str, org_id: str, body: dict[str, Any],
               settles: str | None = None) -> Issued:
        """Add the audit head, the last checkpoint and the log link; sign, log, audit. With
        `settles`: the org erasure it is the receipt of is marked issued in the same
        transaction (`_AlreadySettled`, nothing logged, when another process did first)."""
        signer = self.signer()
        with self.ctx.write() as conn:
            key = self.ctx.audit_key()
            seq, head = audit.head(conn)
            last = checkpoints.last_checkpoint(conn)
            body["audit"] = {
                "audit_key_id": key.id, "head": {"entry": seq, "link": head},
                "last_checkpoint": None if last is None else {
                    **last.payload(), "signature": last.signature},
            }
            body["log"] = ledger.next_link(conn)
            body["signing_key_id"] = signer.key_id
            document = envelope.seal(body, signer)
            digest = envelope.digest(body)
            entry = ledger.append(conn, kind=kind, org_id=org_id,
                                  issued_at=self.ctx.now(), link=body["log"], digest=digest,
                                  document=document)
            if settles is not None and not erasure_records.settle(conn, settles, entry.seq):
                raise _AlreadySettled
            self.ctx.record(conn, actor, f"attest.{kind}", org_id, target=f"log#{entry.seq}",
                            after={"hash": digest, "period": body.get("period")})
        return Issued(document, body, entry)


@dataclass(frozen=True, slots=True)
class Issued:
    document: bytes                       # the signed file
    payload: dict[str, Any]
    entry: ledger.LogEntry | None         # its place in the attestation log (proofs: none)


class _AlreadySettled(Exception):
    """The erasure's receipt was logged by another process first (this one is rolled back)."""
