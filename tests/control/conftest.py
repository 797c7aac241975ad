"""Control-plane fixtures: a migrated SQLite store with a small world of orgs and people.

The world is built once per session into a template file and copied for each test, so every test
starts from the same state without paying for migrations and setup again.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from control_world import START, Clock, World, fast_engine, make_plane, populate
from fastapi.testclient import TestClient

from backend_engines import backend_engine, module_backend_engine  # noqa: F401 - fixtures
from zdr.control.api import build_admin_app
from zdr.control.plane import ControlPlane
from zdr.control.roles import ALL_ROLES, system_actor
from zdr.store.db import migrate


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("control-template") / "zdr.sqlite3"
    engine = fast_engine(path)
    migrate(engine)
    tokens = populate(make_plane(engine, Clock()))
    engine.dispose()
    with closing(sqlite3.connect(path)) as raw:   # fold the WAL in, so one file is the world
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, tokens


@pytest.fixture
def world(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[World]:
    source, tokens = template
    path = tmp_path / "zdr.sqlite3"
    shutil.copy(source, path)
    engine = fast_engine(path)
    clock = Clock(START + timedelta(hours=1))
    plane = make_plane(engine, clock)
    w = World(plane=plane, clock=clock, engine=engine, operator=system_actor(), tokens=tokens)
    w.people = {role: w.actor(role) for role in ALL_ROLES}
    w.other_owner = plane.accounts.actor_for_email("owner@globex.example")
    w.org_ids = {org.name: org.id for org in plane.orgs.list(w.operator)}
    yield w
    engine.dispose()


class PlaneHolder:
    """One admin app for the session (FastAPI's first request per app is slow); each test points
    it at its own world's control plane."""

    plane: ControlPlane | None = None

    def __call__(self) -> ControlPlane:
        assert self.plane is not None
        return self.plane


@pytest.fixture(scope="session")
def admin_session() -> Iterator[tuple[PlaneHolder, TestClient]]:
    holder = PlaneHolder()
    with TestClient(build_admin_app(holder)) as test_client:
        yield holder, test_client


@pytest.fixture
def client(world: World, admin_session: tuple[PlaneHolder, TestClient]) -> Iterator[TestClient]:
    holder, test_client = admin_session
    holder.plane = world.plane
    yield test_client
    holder.plane = None
