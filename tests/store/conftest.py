"""Store fixtures: every test that takes `engine` runs once on SQLite and once on PostgreSQL.

Each test module gets its own migrated database per backend (a SQLite file; a database on the
session's PostgreSQL server, dropped at the end of the module); each test starts from empty tables
(and, on PostgreSQL, no content partitions).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from store_reset import reset

from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate
from zdr.testing.postgres import PostgresServer

BACKENDS = ["sqlite", "postgres"]
MASTER = bytes(range(32))


@pytest.fixture(scope="module", params=BACKENDS)
def module_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "zdr.sqlite3"
        engine = engine_for(f"sqlite:///{path}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    module = request.module.__name__.rsplit(".", 1)[-1]
    name = f"zdr_{module}_{uuid.uuid4().hex[:8]}"
    engine = engine_for(server.create_database(name))
    migrate(engine)
    yield engine
    engine.dispose()
    server.drop_database(name)


@pytest.fixture
def engine(module_engine: Engine) -> Engine:
    reset(module_engine)
    return module_engine


@pytest.fixture
def keyring(engine: Engine) -> Keyring:
    return Keyring(engine, MASTER)
