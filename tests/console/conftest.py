from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_world import PASSWORD, World, build_template, copy_world, csrf_of
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

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
def limiter() -> LoginRateLimiter:
    return LoginRateLimiter()


@pytest.fixture
def app(world: World, limiter: LoginRateLimiter) -> Starlette:
    console = build_console_app(world.plane, world.settings, limiter=limiter)
    return Starlette(routes=[Mount("/console", console)])


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in; returns the signed-in session's CSRF token."""
    form = client.get("/console/login")
    token = csrf_of(form.text)
    response = client.post("/console/login", data={
        "email": email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"], follow_redirects=True)
    return csrf_of(page.text)
