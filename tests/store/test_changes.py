"""Change notices on PostgreSQL: what one process's control plane commits reaches a listener in
another at once; a listener that lost its connection comes back and forgets everything it had."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from zdr.catalog import default_catalog
from zdr.control.audit import ChainKey
from zdr.control.context import ControlContext
from zdr.control.plane import ControlPlane
from zdr.control.roles import system_actor
from zdr.store.changes import ChangeListener, publish_change
from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate
from zdr.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database("zdr_test_changes")
    engine = engine_for(url)
    migrate(engine)
    engine.dispose()
    yield url
    postgres_server.drop_database("zdr_test_changes")


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = engine_for(pg_url)
    yield engine
    engine.dispose()


class Heard:
    def __init__(self) -> None:
        self.notices: list[tuple[float, str | None]] = []

    def __call__(self, org_id: str | None) -> None:
        self.notices.append((time.monotonic(), org_id))

    async def wait_for(self, org_id: str | None, limit: float = 2.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < limit:
            for at, heard in self.notices:
                if heard == org_id:
                    return at
            await asyncio.sleep(0.005)
        raise AssertionError(f"no notice for {org_id!r} within {limit} s")


async def listening(url: str) -> tuple[ChangeListener, Heard]:
    heard = Heard()
    listener = ChangeListener(url, heard, retry_seconds=0.1)
    await listener.start()
    await asyncio.wait_for(listener.listening.wait(), 10)
    return listener, heard


async def test_a_committed_change_reaches_the_listener_at_once(pg_url: str, engine: Engine
                                                               ) -> None:
    listener, heard = await listening(pg_url)
    try:
        assert heard.notices[0][1] is None       # on connecting: forget everything
        master = bytes(range(32))
        plane = ControlPlane(ControlContext(engine=engine, catalog=default_catalog(),
                                            keyring=Keyring(engine, master),
                                            chain_key=ChainKey.from_master_key(master)))
        org = plane.orgs.create(system_actor(), "notice-org", "enterprise")
        sent = time.monotonic()
        plane.arrangements.accept_baa(system_actor(), "notice-org", "2026-01")
        took = await heard.wait_for(org.id) - sent
        assert took < 0.1, f"the notice took {took:.3f} s"
    finally:
        await listener.stop()


async def test_a_listener_reconnects_and_forgets_everything(pg_url: str, engine: Engine) -> None:
    """Its connection killed (a database restart looks the same): it comes back, says `None`
    (forget all: notices sent meanwhile are lost), and hears the next notice."""
    listener, heard = await listening(pg_url)
    try:
        with engine.begin() as conn:
            killed = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query = 'LISTEN zdr_changes'")).scalars().all()
        assert killed == [True]
        heard.notices.clear()
        await heard.wait_for(None, limit=5.0)
        await asyncio.wait_for(listener.listening.wait(), 5)
        publish_change(engine, "org-after-reconnect")
        await heard.wait_for("org-after-reconnect")
    finally:
        await listener.stop()


def test_on_sqlite_a_change_sends_nothing(tmp_path: object) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/zdr.sqlite3")
    try:
        publish_change(engine, "org")       # no notice channel; the cache's TTL applies
    finally:
        engine.dispose()


async def test_a_notice_that_cannot_be_sent_does_not_fail_the_change(pg_url: str) -> None:
    """The change is committed already; the TTL is the fallback when the notice is lost."""
    dead = engine_for(pg_url.replace(pg_url.split("@")[1].split("/")[0], "127.0.0.1:1"))
    try:
        publish_change(dead, "org")
    finally:
        dead.dispose()

