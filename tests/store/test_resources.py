"""Ownership of upstream files and batches (`upstream_resources`, zdr.store.resources): recorded
once per id, answered per org, forgotten on delete, purged after the catalog's period unless
held; the 0002 migration adds the table to a store made by 0001. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, func, inspect, select
from store_data import make_org

from zdr.ports import UpstreamResource
from zdr.store.crypto import Keyring
from zdr.store.db import _config, check_current, engine_for, migrate
from zdr.store.deletion import erase_org
from zdr.store.purge import purge
from zdr.store.resources import SqlResourceOwners
from zdr.store.tables import holds, upstream_resources

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def resource(kind: str, org: str, *, days: int | None, created: datetime = NOW,
             resource_id: str | None = None) -> UpstreamResource:
    return UpstreamResource(
        kind=kind, resource_id=resource_id or f"{kind}_{uuid.uuid4().hex}", org_id=org,
        workspace_id=f"ws-{org}"[:36], exchange_id=f"req_{uuid.uuid4().hex[:20]}",
        created_at=created, expires_at=None if days is None else created + timedelta(days=days))


def test_owner_is_answered_per_org_and_kind(engine: Engine) -> None:
    owners = SqlResourceOwners(engine)

    async def scenario() -> None:
        a_file, b_file = resource("file", "org-a", days=None), resource("file", "org-b", days=None)
        a_batch = resource("batch", "org-a", days=29)
        for item in (a_file, b_file, a_batch):
            await owners.record(item)
        assert await owners.owner_of("file", a_file.resource_id, NOW) == "org-a"
        assert await owners.owner_of("file", "file_unknown", NOW) is None
        assert await owners.owner_of("file", a_batch.resource_id, NOW) is None   # wrong kind
        ids = [a_file.resource_id, b_file.resource_id, "file_unknown"]
        assert await owners.owned("org-a", "file", ids, NOW) == {a_file.resource_id}
        assert await owners.owned("org-b", "file", ids, NOW) == {b_file.resource_id}
        assert await owners.owner_of("batch", a_batch.resource_id, NOW + timedelta(days=30)) \
            is None                                                  # past its period
        await owners.forget("file", a_file.resource_id)
        assert await owners.owner_of("file", a_file.resource_id, NOW) is None

    asyncio.run(scenario())


def test_an_id_keeps_its_first_owner(engine: Engine) -> None:
    owners = SqlResourceOwners(engine)
    first = resource("file", "org-a", days=None, resource_id="file_same")

    async def scenario() -> None:
        await owners.record(first)
        await owners.record(resource("file", "org-b", days=None, resource_id="file_same"))
        assert await owners.owner_of("file", "file_same", NOW) == "org-a"

    asyncio.run(scenario())


def test_purge_removes_expired_ownership_unless_held(engine: Engine) -> None:
    owners = SqlResourceOwners(engine)
    old = NOW - timedelta(days=40)

    async def scenario() -> None:
        await owners.record(resource("batch", "org-a", days=29, created=old))   # expired
        await owners.record(resource("batch", "org-h", days=29, created=old))   # expired, held
        await owners.record(resource("batch", "org-a", days=29))                # current
        await owners.record(resource("file", "org-a", days=None, created=old))  # until deleted

    asyncio.run(scenario())
    with engine.begin() as conn:
        conn.execute(holds.insert().values(
            id=str(uuid.uuid4()), kind="legal", scope="org", org_id="org-h", reason="case",
            placed_by="legal-1", placed_at=NOW))
    assert purge(engine, NOW, dry_run=True).deleted["upstream_resource"] == 1
    assert purge(engine, NOW).deleted["upstream_resource"] == 1
    with engine.connect() as conn:
        left = conn.execute(select(upstream_resources.c.org_id, upstream_resources.c.kind)
                            .order_by(upstream_resources.c.org_id)).all()
    assert sorted((r.org_id, r.kind) for r in left) == [
        ("org-a", "batch"), ("org-a", "file"), ("org-h", "batch")]


def test_0002_adds_the_table_to_a_store_made_by_0001(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0001_initial")
        assert "upstream_resources" not in inspect(engine).get_table_names()
        assert not check_current(engine).up_to_date
        assert migrate(engine).up_to_date
        assert "upstream_resources" in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(upstream_resources)) \
                .scalar_one() == 0
        with engine.begin() as conn:
            command.downgrade(_config(conn), "0001_initial")
        assert "upstream_resources" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_erasing_an_org_removes_its_ownership_records(engine: Engine, keyring: Keyring) -> None:
    gone, kept = make_org(engine, deleted_at=NOW - timedelta(days=8)), make_org(engine)
    owners = SqlResourceOwners(engine)

    async def scenario() -> None:
        await owners.record(resource("file", gone, days=None))
        await owners.record(resource("batch", gone, days=29))
        await owners.record(resource("file", kept, days=None))

    asyncio.run(scenario())
    report = erase_org(engine, keyring, gone, NOW)
    assert report.deleted["upstream_resources"] == 2
    with engine.connect() as conn:
        left = conn.execute(select(upstream_resources.c.org_id)).scalars().all()
    assert left == [kept]


def test_every_kind_the_gateway_guards_fits_and_is_answered_on_its_own(engine: Engine) -> None:
    """Sessions, Claude Code sessions, skills and containers are kept like files and batches;
    each kind name fits the column (PostgreSQL enforces its length), and an id of one kind does
    not answer for another."""
    from zdr.gateway.ownership import KINDS

    owners = SqlResourceOwners(engine)

    async def scenario() -> None:
        shared_id = "obj_" + "x" * 190                   # a long id, the same under every kind
        for kind in KINDS:
            await owners.record(resource(kind, f"org-{kind}", days=30, resource_id=shared_id))
        for kind in KINDS:
            assert await owners.owner_of(kind, shared_id, NOW) == f"org-{kind}"
            assert await owners.owned(f"org-{kind}", kind, [shared_id], NOW) == {shared_id}
            assert await owners.owned("org-file", kind, [shared_id], NOW) == (
                {shared_id} if kind == "file" else set())

    asyncio.run(scenario())
