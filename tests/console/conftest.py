from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_world import World, build_template, copy_world
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from backend_engines import backend_engine, module_backend_engine  # noqa: F401 - fixtures
from zdr.console import build_console_app
from zdr.console.ratelimit import LoginRateLimiter


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_template(tmp_path_factory.mktemp("console-template"))


@pytest.fixture
def world(world_template: tuple[Path, str], tmp_path: Path) -> Iterator[World]:
    template, master_key = world_template
    built = copy_world(template, master_key, tmp_path / "home")
    yield built
    built.plane.ctx.engine.dispose()


@pytest.fixture
def limiter(world: World) -> LoginRateLimiter:
    return LoginRateLimiter(world.plane.ctx.engine)


@pytest.fixture
def app(world: World, limiter: LoginRateLimiter) -> Starlette:
    console = build_console_app(world.plane, world.settings, limiter=limiter)
    return Starlette(routes=[Mount("/console", console)])


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c
