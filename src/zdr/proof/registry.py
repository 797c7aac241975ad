"""The public halves of the deployment's signing keys, listed in the database.

Every key that ever signed stays listed (with `retired_at` once a newer key took over), so a
statement signed before a rotation still verifies. Listing a key is itself an audit entry
(`signing_key.add`), inside the keyed audit chain: someone who can write to the database but
lacks the master key cannot slip in a key of their own without breaking the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from zdr.proof.canonical import instant
from zdr.proof.signing import Signer
from zdr.store.db import utc
from zdr.store.tables import signing_keys


@dataclass(frozen=True, slots=True)
class ListedKey:
    key_id: str
    pem: str
    created_at: datetime
    retired_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "pem": self.pem, "created_at": instant(self.created_at),
                "retired_at": None if self.retired_at is None else instant(self.retired_at)}


def listed_keys(conn: Connection) -> list[ListedKey]:
    rows = conn.execute(select(signing_keys).order_by(signing_keys.c.created_at,
                                                      signing_keys.c.key_id))
    return [ListedKey(r.key_id, r.public_pem, utc(r.created_at),
                      None if r.retired_at is None else utc(r.retired_at)) for r in rows]


def is_listed(conn: Connection, key_id: str) -> bool:
    return conn.execute(select(signing_keys.c.key_id)
                        .where(signing_keys.c.key_id == key_id)).first() is not None


def list_key(conn: Connection, signer: Signer, at: datetime) -> bool:
    """List `signer`'s public key (retiring the keys listed before it); False if it already
    was. The caller audits it, in the same transaction."""
    if is_listed(conn, signer.key_id):
        return False
    conn.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None))
                 .values(retired_at=utc(at)))
    conn.execute(signing_keys.insert().values(key_id=signer.key_id, public_pem=signer.public_pem,
                                              created_at=utc(at)))
    return True
