"""Evidence for customers and auditors, as a control-plane service: the signing key's public
halves, signed statements, erasure receipts and the attestation log (`zdr.proof`).

Every document issued is appended to the attestation log and audited (who issued what, its
hash); documents never carry content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zdr.control import checkpoints
from zdr.control.roles import Actor
from zdr.errors import StoreUnavailable
from zdr.proof import registry
from zdr.proof.signing import Signer

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
