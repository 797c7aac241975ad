"""Holds: a legal hold or a safety investigation on an org, a workspace or one exchange.

While a hold stands, nothing under it is deleted — not by purge, not by shortening a retention
period, not by an org's erasure. Releasing it lets purge take what has expired.

Public names (the control plane audits each call in the same transaction):
`place_hold(conn, ...) -> Hold`, `release_hold(conn, hold_id, released_by, now) -> Hold`,
`active_holds(conn, org_id=None) -> list[Hold]`, `get_hold(conn, hold_id)`, and `held(table)`, the
SQL condition "a standing hold covers this row" that purge, deletion and readers use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Table, and_, exists, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from zdr.errors import Conflict, InvalidRequest, NotFound
from zdr.store.db import utc
from zdr.store.tables import holds

HoldKind = Literal["legal", "safety"]
HoldScope = Literal["org", "workspace", "exchange"]
HOLD_KINDS: tuple[HoldKind, ...] = ("legal", "safety")


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    kind: str
    scope: str
    org_id: str
    workspace_id: str | None
    exchange_id: str | None
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "scope": self.scope, "org_id": self.org_id,
            "workspace_id": self.workspace_id, "exchange_id": self.exchange_id,
            "reason": self.reason, "placed_by": self.placed_by,
            "placed_at": self.placed_at.isoformat(), "released_by": self.released_by,
            "released_at": None if self.released_at is None else self.released_at.isoformat(),
        }


def hold_from_row(row: Any) -> Hold:
    """A `holds` row as a `Hold` (aware UTC datetimes on both backends)."""
    return Hold(
        id=row.id, kind=row.kind, scope=row.scope, org_id=row.org_id,
        workspace_id=row.workspace_id, exchange_id=row.exchange_id, reason=row.reason,
        placed_by=row.placed_by, placed_at=utc(row.placed_at), released_by=row.released_by,
        released_at=None if row.released_at is None else utc(row.released_at),
    )


def held(table: Table) -> ColumnElement[bool]:
    """True for rows of `table` that a standing hold covers (by org, workspace or exchange)."""
    exchange_id = table.c.id if table.name == "exchanges" else table.c.exchange_id
    return exists(
        select(holds.c.id).where(
            holds.c.released_at.is_(None),
            holds.c.org_id == table.c.org_id,
            or_(
                holds.c.scope == "org",
                and_(holds.c.scope == "workspace", holds.c.workspace_id == table.c.workspace_id),
                and_(holds.c.scope == "exchange", holds.c.exchange_id == exchange_id),
            ),
        )
    )


def place_hold(
    conn: Connection,
    *,
    kind: str,
    org_id: str,
    reason: str,
    placed_by: str,
    now: datetime,
    workspace_id: str | None = None,
    exchange_id: str | None = None,
) -> Hold:
    """Place a hold; its scope is the narrowest id given (exchange, else workspace, else org)."""
    if kind not in HOLD_KINDS:
        raise InvalidRequest(f"hold kind must be one of: {', '.join(HOLD_KINDS)}")
    if not reason.strip():
        raise InvalidRequest("a hold needs a reason")
    scope: HoldScope = "exchange" if exchange_id else "workspace" if workspace_id else "org"
    hold = Hold(
        id=str(uuid.uuid4()), kind=kind, scope=scope, org_id=org_id,
        workspace_id=workspace_id, exchange_id=exchange_id, reason=reason.strip(),
        placed_by=placed_by, placed_at=utc(now),
    )
    conn.execute(holds.insert().values(
        id=hold.id, kind=hold.kind, scope=hold.scope, org_id=hold.org_id,
        workspace_id=hold.workspace_id, exchange_id=hold.exchange_id, reason=hold.reason,
        placed_by=hold.placed_by, placed_at=hold.placed_at,
    ))
    return hold


def get_hold(conn: Connection, hold_id: str) -> Hold:
    row = conn.execute(select(holds).where(holds.c.id == hold_id)).first()
    if row is None:
        raise NotFound(f"no hold {hold_id}")
    return hold_from_row(row)


def release_hold(conn: Connection, hold_id: str, released_by: str, now: datetime) -> Hold:
    """Release a standing hold. Purge may then take what has expired under it."""
    current = get_hold(conn, hold_id)
    if not current.active:
        raise Conflict(f"hold {hold_id} was already released")
    conn.execute(
        update(holds).where(holds.c.id == hold_id, holds.c.released_at.is_(None))
        .values(released_by=released_by, released_at=utc(now))
    )
    return get_hold(conn, hold_id)


def active_holds(conn: Connection, org_id: str | None = None) -> list[Hold]:
    query = select(holds).where(holds.c.released_at.is_(None)).order_by(holds.c.placed_at)
    if org_id is not None:
        query = query.where(holds.c.org_id == org_id)
    return [hold_from_row(row) for row in conn.execute(query)]
