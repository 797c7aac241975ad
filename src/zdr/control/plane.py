"""The control plane: every service over one context, built once per process.

The admin API, the CLI and the console all call these services with an `Actor`; the services
check roles, apply changes and audit them. Nothing else writes arrangements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from zdr.catalog import Catalog, load_catalog
from zdr.control import audit, checkpoints
from zdr.control.accounts import Accounts
from zdr.control.apikeys import ApiKeys
from zdr.control.arrangements import Arrangements
from zdr.control.context import ControlContext, guarded_org
from zdr.control.evidence import Evidence
from zdr.control.flagged import FlaggedReview
from zdr.control.holds import Holds
from zdr.control.organizations import Organizations
from zdr.control.roles import Actor
from zdr.control.workspaces import Workspaces
from zdr.errors import InvalidRequest, StoreUnavailable
from zdr.proof.envelope import InvalidDocument
from zdr.settings import Settings
from zdr.store.crypto import Keyring, MasterKeyError, derived_key, load_master_key
from zdr.store.tables import audit_log


class AuditTrail:
    """Reading and verifying the audit log (appending is done by every other service)."""

    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def list(
        self, actor: Actor, org: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[audit.AuditEntry]:
        limit, after_seq = max(1, min(limit, 1000)), max(0, min(after_seq, 2**62))
        with self.ctx.read() as conn:
            if org is None:
                self.ctx.guard(actor, "audit.read", None)
                return audit.entries(conn, after_seq=after_seq, limit=limit)
            org_id = guarded_org(self.ctx, conn, actor, "audit.read", org, deleted=None).id
            return audit.entries(conn, org_id=org_id, after_seq=after_seq, limit=limit)

    def verify(
        self, actor: Actor, expect_head: str | None = None,
        checkpoint_files: Sequence[tuple[str, bytes]] = (), public_keys: Sequence[str] = (),
    ) -> audit.ChainReport:
        """Recompute the keyed chain; compare it with every signed checkpoint (stored, or kept
        in files) and with `expect_head` (`SEQ:LINK` as printed by an earlier verify)."""
        self.ctx.guard(actor, "audit.verify", None)
        with self.ctx.read() as conn:
            trusted = checkpoints.trusted_keys(conn, public_keys)
            signer = self.ctx.signer
            if signer is not None:
                trusted.setdefault(signer.key_id, signer.public_pem)
            try:
                extra = [checkpoints.file_anchor(data, name, trusted)
                         for name, data in checkpoint_files]
            except InvalidDocument as error:
                raise InvalidRequest(f"checkpoint file: {error}") from None
            return checkpoints.verify_with_checkpoints(conn, self.ctx.chain_key, trusted,
                                                       expect_head, extra)

    def prepare(self) -> None:
        """Key a chain upgraded from plain links, list the signing key, sign the head: what a
        home made before evidence existed needs once (`zdr init --if-missing`)."""
        key, signer = self.ctx.audit_key(), self.ctx.signer
        with self.ctx.write() as conn:
            last = conn.execute(select(audit_log.c.key_id).order_by(audit_log.c.seq.desc())
                                .limit(1)).first()
            if last is not None and last.key_id != key.id:
                audit.relink(conn, key, self.ctx.now())
            if signer is not None and checkpoints.last_checkpoint(conn) is None:
                checkpoints.write_checkpoint(conn, key, signer, self.ctx.now())

    def checkpoint(self, actor: Actor) -> tuple[checkpoints.Checkpoint, str]:
        """Sign the chain head now (audit.verify role); the checkpoint and the signer's PEM."""
        self.ctx.guard(actor, "audit.verify", None)
        signer = self.ctx.signer
        if signer is None:
            raise StoreUnavailable("no signing key: set ZDR_SIGNING_KEY or run `zdr init`")
        with self.ctx.write() as conn:
            key = self.ctx.audit_key()
            last = conn.execute(select(audit_log.c.key_id).order_by(audit_log.c.seq.desc())
                                .limit(1)).first()
            if last is not None and last.key_id != key.id:
                audit.relink(conn, key, self.ctx.now())
            return checkpoints.write_checkpoint(conn, key, signer, self.ctx.now()), \
                signer.public_pem


@dataclass
class ControlPlane:
    ctx: ControlContext

    def __post_init__(self) -> None:
        self.orgs = Organizations(self.ctx)
        self.workspaces = Workspaces(self.ctx)
        self.keys = ApiKeys(self.ctx)
        self.arrangements = Arrangements(self.ctx)
        self.holds = Holds(self.ctx)
        self.flagged = FlaggedReview(self.ctx)
        self.accounts = Accounts(self.ctx)
        self.audit = AuditTrail(self.ctx)
        self.evidence = Evidence(self.ctx)


def build_control_plane(
    settings: Settings, engine: Engine | None = None, catalog: Catalog | None = None,
    with_keyring: bool = True, keys: tuple[bytes, Keyring] | None = None,
) -> ControlPlane:
    """The control plane for a home: its database, catalog and (if the master key loads) keys.
    `keys`: the master key and the `Keyring` over `engine` that the process opened already (the
    gateway's: one keyring, one cache of data keys per process)."""
    from zdr.proof.signing import SigningKeyError, load_signer
    from zdr.store.db import engine_for

    engine = engine or engine_for(settings.database_url)
    keyring = chain_key = signer = end_user_key = None
    if with_keyring:
        try:
            master_key, keyring = keys or _open_keys(settings, engine)
            chain_key = audit.ChainKey.from_master_key(master_key)
            end_user_key = derived_key(master_key, "end-users")
        except MasterKeyError:
            keyring = None
        try:
            signer = load_signer(settings, create=settings.home.is_dir())
        except SigningKeyError:
            if settings.signing_key or settings.signing_key_path.exists():
                raise           # a key is configured but unusable: say so, do not go unsigned
            signer = None
    return ControlPlane(ControlContext(
        engine=engine, catalog=catalog or load_catalog(settings.catalog_path), keyring=keyring,
        chain_key=chain_key, signer=signer, settings=settings, end_user_key=end_user_key,
        checkpoint_policy=checkpoints.CheckpointPolicy(
            settings.audit_checkpoint_entries, settings.audit_checkpoint_minutes * 60),
    ))


def _open_keys(settings: Settings, engine: Engine) -> tuple[bytes, Keyring]:
    master_key = load_master_key(settings)
    return master_key, Keyring(engine, master_key)
