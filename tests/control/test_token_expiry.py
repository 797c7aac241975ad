"""Admin tokens expire: 90 days by default, `--expires-in` / `expires_in_days` otherwise (at most
365 days); an expired token gets 401 in the API's format; tokens made before expiry existed get
one at the upgrade (90 days later)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from control_world import World
from fastapi.testclient import TestClient
from sqlalchemy import select

from zdr.control.accounts import TOKEN_LIFETIME
from zdr.errors import AuthenticationFailed, InvalidRequest
from zdr.keys import new_admin_token
from zdr.store.db import _config, engine_for, migrate
from zdr.store.tables import admin_tokens, users

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]


def test_a_token_works_until_its_expiry_then_never(world: World) -> None:
    accounts = world.plane.accounts
    token = accounts.create_token(world.operator, "reviewer@people.example")
    assert token.expires_at == world.clock() + TOKEN_LIFETIME
    world.clock.advance(days=89, hours=23)
    assert accounts.actor_for_token(token.secret).email == "reviewer@people.example"
    world.clock.advance(hours=1)
    with pytest.raises(AuthenticationFailed, match="expired"):
        accounts.actor_for_token(token.secret)


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=59), timedelta(days=366),
                                      timedelta(days=-1)])
def test_a_lifetime_outside_a_minute_to_a_year_is_refused(world: World,
                                                          lifetime: timedelta) -> None:
    with pytest.raises(InvalidRequest):
        world.plane.accounts.create_token(world.operator, "reviewer@people.example", lifetime)


def test_a_token_without_a_known_expiry_is_refused(world: World) -> None:
    token = world.plane.accounts.create_token(world.operator, "reviewer@people.example")
    with world.engine.begin() as conn:
        conn.execute(admin_tokens.update().where(admin_tokens.c.prefix == token.prefix)
                     .values(expires_at=None))
    with pytest.raises(AuthenticationFailed):
        world.plane.accounts.actor_for_token(token.secret)


def test_the_api_sets_the_lifetime_and_refuses_an_expired_token_with_401(
        world: World, client: TestClient) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['provider_admin']}"}
    made = client.post("/admin/v1/tokens", headers=admin,
                       json={"email": "reviewer@people.example", "expires_in_days": 7})
    assert made.status_code == 201, made.text
    expires_at = datetime.fromisoformat(made.json()["expires_at"])
    assert expires_at == world.clock() + timedelta(days=7)
    headers = {"Authorization": f"Bearer {made.json()['secret']}"}
    assert client.get("/admin/v1/me", headers=headers).status_code == 200
    world.clock.advance(days=7)
    answer = client.get("/admin/v1/me", headers=headers)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    assert "expired" in error["error"]["message"] and made.json()["secret"] not in answer.text
    for days in (0, 366):
        refused = client.post("/admin/v1/tokens", headers=admin, json={
            "email": "reviewer@people.example", "expires_in_days": days})
        assert refused.status_code == 422 and refused.json()["type"] == "error"


def test_the_cli_takes_expires_in(tmp_path: Path) -> None:
    env = {"ZDR_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}

    def zdr(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ZDR, *args], env=env, capture_output=True, text=True,
                              timeout=120, check=check)

    init = json.loads(zdr("init", "--json").stdout)
    started = datetime.now(UTC)
    assert abs(datetime.fromisoformat(init["admin_token_expires_at"]) - started
               - TOKEN_LIFETIME) < timedelta(minutes=5)
    made = json.loads(zdr("tokens", "create", "--user", "admin@localhost", "--expires-in", "12h",
                          "--json").stdout)
    assert abs(datetime.fromisoformat(made["expires_at"]) - started
               - timedelta(hours=12)) < timedelta(minutes=5)
    for bad in ("12x", "soon", "400d", "0m"):
        done = zdr("tokens", "create", "--user", "admin@localhost", "--expires-in", bad,
                   check=False)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_tokens_from_before_expiry_existed_expire_90_days_after_the_upgrade(
        tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0004_keyed_audit")
        old = new_admin_token()
        user_id = str(uuid.uuid4())
        long_ago = datetime.now(UTC) - timedelta(days=400)
        with engine.begin() as conn:
            conn.execute(users.insert().values(id=user_id, email="old@example.com",
                                               created_at=long_ago))
            conn.exec_driver_sql(
                "INSERT INTO admin_tokens (id, user_id, prefix, token_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), user_id, old.prefix, old.digest, long_ago.isoformat(" ")))
        upgraded = datetime.now(UTC)
        migrate(engine)
        with engine.connect() as conn:
            expires_at = conn.execute(select(admin_tokens.c.expires_at)).scalar_one()
        assert abs(expires_at.replace(tzinfo=UTC) - upgraded - timedelta(days=90)) \
            < timedelta(minutes=5)
    finally:
        engine.dispose()
