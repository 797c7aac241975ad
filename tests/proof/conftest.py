"""Evidence tests run on SQLite and on the session's PostgreSQL server (`backend` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from evidence_world import World


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """An empty deployment on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        world = World.make(tmp_path / "home")
        yield world
        world.close()
        return
    server = request.getfixturevalue("postgres_server")
    name = f"zdr_proof_{uuid.uuid4().hex[:8]}"
    world = World.make(tmp_path / "home", server.create_database(name))
    yield world
    world.close()
    server.drop_database(name)
