"""A migrated database per test module on each backend, for tests outside tests/store.

    from backend_engines import backend_engine   # in a conftest or test module: the fixture

`backend_engine` runs its tests once on SQLite and once on PostgreSQL (the session's server,
`postgres_server` in tests/conftest.py), each module on its own database, emptied before every
test. `second_engine(engine)` opens another engine on the same database: what another worker
process, another instance or the same instance after a restart would open.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from zdr.store.db import engine_for, migrate
from zdr.store.tables import metadata
from zdr.testing.postgres import PostgresServer

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("backend") / "zdr.sqlite3"
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
def backend_engine(module_backend_engine: Engine) -> Engine:
    """The module's database, every table empty."""
    with module_backend_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return module_backend_engine


def second_engine(engine: Engine) -> Engine:
    """A new engine (own pool, own connections) on the same database."""
    return engine_for(engine.url.render_as_string(hide_password=False))
