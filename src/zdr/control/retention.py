"""Shortening an organization's retention: its stored content expires by the new period at once.

Only the expiry moves here; purge (in the store) deletes what has expired, and a hold still stops
it. Content of workspaces with their own retention override keeps that override's period.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, select

from zdr.store.db import utc
from zdr.store.tables import contents, workspaces

BATCH = 1000


def shorten_content(conn: Connection, org_id: str, days: int, now: datetime) -> int:
    """Bring forward the expiry of the org's content to `created_at + days`; count the moved."""
    period = timedelta(days=days)
    overridden = select(workspaces.c.id).where(
        workspaces.c.org_id == org_id, workspaces.c.retention_override_days.is_not(None))
    moved, after_id = 0, 0
    while True:
        rows = conn.execute(
            select(contents.c.id, contents.c.created_at, contents.c.expires_at)
            .where(contents.c.org_id == org_id, contents.c.id > after_id,
                   contents.c.expires_at > now,
                   or_(contents.c.workspace_id.is_(None),
                       contents.c.workspace_id.not_in(overridden)))
            .order_by(contents.c.id).limit(BATCH)
        ).all()
        if not rows:
            return moved
        for row in rows:
            target = max(utc(row.created_at) + period, now)
            if target < utc(row.expires_at):
                conn.execute(contents.update().where(contents.c.id == row.id)
                             .values(expires_at=target))
                moved += 1
        after_id = rows[-1].id
