"""0003 on a store made by 0002: sessions and sign-in attempts tables, and every existing
organization gets its comparable name — without renaming any, even names that now collide."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Boolean, Column, DateTime, Engine, MetaData, String, Table, inspect, select

from zdr.control.context import find_org
from zdr.control.org_names import OrgId
from zdr.store.db import _config, engine_for, migrate
from zdr.store.tables import organizations, workspaces
from zdr.testing.postgres import PostgresServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = engine_for(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"zdr_migration_0003_{uuid.uuid4().hex[:8]}"
    engine = engine_for(server.create_database(name))
    yield engine
    engine.dispose()
    server.drop_database(name)


def test_0003_backfills_names_and_keeps_colliding_ones_reachable(empty_engine: Engine) -> None:
    with empty_engine.begin() as conn:
        command.upgrade(_config(conn), "0002_upstream_resources")
    with empty_engine.begin() as conn:
        # 0002's table has no name_key column yet: insert through a table of its own columns.
        old = Table("organizations", MetaData(), Column("id", String), Column("name", String),
                    Column("plan", String), Column("created_at", DateTime(timezone=True)),
                    Column("zdr_status", String), Column("hipaa", Boolean))
        ids = {}
        for minutes, name in enumerate(["ACME", "Globex", "acme", "\uff21\uff43\uff4d\uff45"]):
            ids[name] = str(uuid.uuid4())
            conn.execute(old.insert().values(
                id=ids[name], name=name, plan="api", created_at=T0 + timedelta(minutes=minutes),
                zdr_status="none", hipaa=False))
            conn.execute(workspaces.insert().values(
                id=str(uuid.uuid4()), org_id=ids[name], name="default", created_at=T0))
    assert migrate(empty_engine).up_to_date
    tables = set(inspect(empty_engine).get_table_names())
    assert {"console_sessions", "login_attempts"} <= tables
    with empty_engine.connect() as conn:
        keys = dict(conn.execute(select(organizations.c.name, organizations.c.name_key)).all())
        assert keys["ACME"] == "acme" and keys["Globex"] == "globex"
        assert keys["acme"] == "acme\x1f" + ids["acme"]           # the later one: by id only
        assert find_org(conn, "acme").id == ids["ACME"]            # the oldest keeps the name
        for name, org_id in ids.items():
            assert find_org(conn, OrgId(org_id)).name == name      # every org by its id
    with empty_engine.begin() as conn:                           # and back, with the data in
        command.downgrade(_config(conn), "0002_upstream_resources")
    columns = {c["name"] for c in inspect(empty_engine).get_columns("organizations")}
    assert "name_key" not in columns
    assert "console_sessions" not in inspect(empty_engine).get_table_names()
