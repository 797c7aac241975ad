"""Flagged content review: only trust & safety reads it, and every read is audited.

Listing shows the records without content; `read` decrypts one record with the org's safety key
and appends an audit entry naming the record (never its content) before returning it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from zdr.control.context import ControlContext, guarded_org
from zdr.control.roles import Actor
from zdr.control.views import FlaggedView
from zdr.errors import NotFound, StoreUnavailable
from zdr.store.tables import flagged_contents

FLAGGED_RECORD_CLASS = "flagged_content"


@dataclass(frozen=True, slots=True)
class FlaggedContent:
    record: FlaggedView
    content: str = ""


class FlaggedReview:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def list(self, actor: Actor, org: str, limit: int = 100) -> list[FlaggedView]:
        with self.ctx.read() as conn:
            row = guarded_org(self.ctx, conn, actor, "flagged.read", org, deleted=None)
            rows = conn.execute(
                select(flagged_contents).where(flagged_contents.c.org_id == row.id)
                .order_by(flagged_contents.c.id).limit(max(1, min(limit, 1000)))
            ).all()
        return [FlaggedView.of(r) for r in rows]

    def read(self, actor: Actor, record_id: int) -> FlaggedContent:
        if self.ctx.keyring is None:
            raise StoreUnavailable("no key ring is configured, so flagged content cannot be read")
        from zdr.store.crypto import Sealed, record_aad

        if not 0 < record_id < 2**62:
            raise NotFound("flagged record not found")
        with self.ctx.write() as conn:
            row = conn.execute(
                select(flagged_contents).where(flagged_contents.c.id == record_id)).first()
            if row is None:
                raise NotFound("flagged record not found")
            self.ctx.guard(actor, "flagged.read", row.org_id)
            self.ctx.record(conn, actor, "flagged.read", row.org_id, str(row.id), None,
                            {"exchange_id": row.exchange_id})
        plaintext = self.ctx.keyring.decrypt(
            row.org_id, Sealed(row.nonce, row.ciphertext),
            record_aad(row.exchange_id, FLAGGED_RECORD_CLASS), purpose="flagged",
        )
        return FlaggedContent(FlaggedView.of(row), plaintext.decode("utf-8", "replace"))
