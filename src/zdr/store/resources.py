"""Ownership of upstream objects: files, message batches, skills, sessions and containers
(`upstream_resources`; the kinds are `zdr.gateway.ownership.KINDS`).

The gateway relays every org's objects under its one provider key, so only this table tells
which org created an id (`zdr.gateway.ownership` asks it before relaying, and filters list
answers with it). Ids and dates only, never content.

Public names: `record_resource(conn, resource)`, `owner_of(conn, kind, resource_id, now)`,
`owned_ids(conn, org_id, kind, resource_ids, now)`, `forget_resource(conn, kind, resource_id)`,
`purge_expired_resources(engine, now, batch_size)` (called by `zdr.store.purge.purge`), and
`SqlResourceOwners(engine)`: the `zdr.ports.ResourceOwners` port (blocking work in a thread).
A record past `expires_at` has no owner: its id is answered like an unknown one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, delete, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from zdr.ports import UpstreamResource
from zdr.store.db import read_only, utc
from zdr.store.holds import held
from zdr.store.tables import upstream_resources
from zdr.store.upsert import insert_ignoring_duplicates

T = upstream_resources
LOOKUP_CHUNK = 500     # ids per IN (…) when filtering a list answer


def _alive(now: datetime) -> ColumnElement[bool]:
    return or_(T.c.expires_at.is_(None), T.c.expires_at > utc(now))


def record_resource(conn: Connection, resource: UpstreamResource) -> None:
    """Remember who created `resource`. An id already recorded keeps its first owner."""
    conn.execute(insert_ignoring_duplicates(conn, T).values(
        kind=resource.kind, resource_id=resource.resource_id, org_id=resource.org_id,
        workspace_id=resource.workspace_id, exchange_id=resource.exchange_id,
        created_at=utc(resource.created_at),
        expires_at=None if resource.expires_at is None else utc(resource.expires_at),
    ))


def owner_of(conn: Connection, kind: str, resource_id: str, now: datetime) -> str | None:
    """The org that created this id, or None (unknown, or past its period)."""
    value = conn.execute(select(T.c.org_id).where(
        T.c.kind == kind, T.c.resource_id == resource_id, _alive(now))).scalar()
    return None if value is None else str(value)


def owned_ids(
    conn: Connection, org_id: str, kind: str, resource_ids: Sequence[str], now: datetime
) -> set[str]:
    """Which of `resource_ids` belong to `org_id` (and are within their period)."""
    found: set[str] = set()
    wanted = list(dict.fromkeys(resource_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start:start + LOOKUP_CHUNK]
        found.update(conn.execute(select(T.c.resource_id).where(
            T.c.org_id == org_id, T.c.kind == kind, T.c.resource_id.in_(chunk), _alive(now),
        )).scalars())
    return found


def forget_resource(conn: Connection, kind: str, resource_id: str) -> int:
    """Drop the record of a deleted file or batch; the number of rows removed (0 or 1)."""
    return conn.execute(delete(T).where(T.c.kind == kind, T.c.resource_id == resource_id)) \
        .rowcount


def purge_expired_resources(engine: Engine, now: datetime, batch_size: int = 1000,
                            *, dry_run: bool = False) -> int:
    """Delete (or count) records past their period that no hold covers."""
    condition = and_(T.c.expires_at.is_not(None), T.c.expires_at <= utc(now), not_(held(T)))
    if dry_run:
        with engine.connect() as conn:
            return len(read_only(conn).execute(select(T.c.id).where(condition)).all())
    total = 0
    while True:
        batch = select(T.c.id).where(condition).limit(batch_size).scalar_subquery()
        with engine.begin() as conn:
            deleted = conn.execute(delete(T).where(T.c.id.in_(batch))).rowcount
        total += deleted
        if deleted < batch_size:
            return total


class SqlResourceOwners:
    """`zdr.ports.ResourceOwners` over the SQL store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def record(self, resource: UpstreamResource) -> None:
        await asyncio.to_thread(self._record, resource)

    async def owner_of(self, kind: str, resource_id: str, now: datetime) -> str | None:
        return await asyncio.to_thread(self._owner_of, kind, resource_id, now)

    async def owned(
        self, org_id: str, kind: str, resource_ids: list[str], now: datetime
    ) -> set[str]:
        return await asyncio.to_thread(self._owned, org_id, kind, resource_ids, now)

    async def forget(self, kind: str, resource_id: str) -> None:
        await asyncio.to_thread(self._forget, kind, resource_id)

    def _record(self, resource: UpstreamResource) -> None:
        with self.engine.begin() as conn:
            record_resource(conn, resource)

    def _owner_of(self, kind: str, resource_id: str, now: datetime) -> str | None:
        with self.engine.connect() as conn:
            return owner_of(read_only(conn), kind, resource_id, now)

    def _owned(self, org_id: str, kind: str, resource_ids: list[str], now: datetime) -> set[str]:
        with self.engine.connect() as conn:
            return owned_ids(read_only(conn), org_id, kind, resource_ids, now)

    def _forget(self, kind: str, resource_id: str) -> None:
        with self.engine.begin() as conn:
            forget_resource(conn, kind, resource_id)
