"""Change notices: an organization's arrangements changed, so every gateway worker of every
instance drops what it cached about that organization (docs/DEPLOYMENT.md).

- `publish_change(engine, org_id)`: after the control plane commits a change (ZDR, BAA,
  retention, a revoked key, a deleted org), a PostgreSQL `NOTIFY zdr_changes, '<org id>'`. A
  no-op on SQLite, where the gateway's cache TTL alone bounds how long an old arrangement applies.
- `ChangeListener`: one asyncio task per gateway worker, `LISTEN zdr_changes` on a psycopg 3
  async connection of its own, calling `on_change(org_id)` for each notice. Whenever it
  (re)connects it calls `on_change(None)` (forget everything): notices sent while it was not
  listening are lost, and the TTL is only the fallback.

A notice carries an org id and nothing else: never a name, never content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

CHANNEL = "zdr_changes"
RETRY_SECONDS = 1.0
# Keep-alives so that a listening connection to a vanished server fails within a minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 20, "keepalives_interval": 5,
              "keepalives_count": 3, "connect_timeout": 5}

log = logging.getLogger("zdr.store.changes")
OnChange = Callable[[str | None], None]


def publish_change(engine: Engine, org_id: str) -> None:
    """Tell every listening worker that `org_id`'s arrangements changed (PostgreSQL only). The
    change is committed already: a failure here is logged, and the TTL still applies."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_notify(:channel, :org)"),
                         {"channel": CHANNEL, "org": org_id})
    except Exception as error:  # noqa: BLE001 - the change stands; caches expire on their own
        log.warning("change notice not sent: %s", type(error).__name__)


def conninfo(database_url: str) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL (`postgresql+psycopg://…`)."""
    url = make_url(database_url).set(drivername="postgresql")
    return make_conninfo(url.render_as_string(hide_password=False), **KEEPALIVES)


class ChangeListener:
    """Listens for change notices while the gateway serves (`start` / `stop` in its lifespan)."""

    def __init__(self, database_url: str, on_change: OnChange | None = None, *,
                 retry_seconds: float = RETRY_SECONDS, logger: Any = None) -> None:
        self._conninfo = conninfo(database_url)
        self.on_change = on_change
        self._retry = retry_seconds
        self.logger = logger
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.notices = 0

    async def start(self) -> None:
        self.listening = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="zdr-changes")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _changed(self, org_id: str | None) -> None:
        if self.on_change is not None:
            self.on_change(org_id)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - reconnect; by type only
                if self.logger is not None:
                    self.logger.warning("change_listener_disconnected",
                                      error_type=type(error).__name__)
            self.listening.clear()
            await asyncio.sleep(self._retry)

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self._changed(None)         # whatever changed while nobody listened
            self.listening.set()
            async for notice in conn.notifies():
                self.notices += 1
                self._changed(notice.payload or None)
