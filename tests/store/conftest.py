"""Store fixtures: every test that takes `engine` runs once on SQLite and once on PostgreSQL.

Each test module gets its own migrated database per backend (a SQLite file; a database on the
session's PostgreSQL server, dropped at the end of the module); each test starts from empty tables
(and, on PostgreSQL, no content partitions).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from store_reset import reset

from backend_engines import module_backend_engine  # noqa: F401 - the per-module database
from zdr.store.crypto import Keyring

BACKENDS = ["sqlite", "postgres"]
MASTER = bytes(range(32))


@pytest.fixture
def engine(module_backend_engine: Engine) -> Engine:  # noqa: F811 - the fixture above
    reset(module_backend_engine)
    return module_backend_engine


@pytest.fixture
def keyring(engine: Engine) -> Keyring:
    return Keyring(engine, MASTER)
