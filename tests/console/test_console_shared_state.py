"""Sessions and the sign-in rate limit are the database's, not a process's: two console instances
on one database (two workers, two hosts) agree, and a restart forgets nothing. On SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from console_world import csrf_of
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from backend_engines import second_engine
from zdr.catalog import default_catalog
from zdr.console import build_console_app
from zdr.control.context import ControlContext
from zdr.control.plane import ControlPlane
from zdr.control.roles import system_actor
from zdr.keys import hash_secret
from zdr.settings import load_settings
from zdr.store.tables import console_sessions, login_attempts

PASSWORD = "correct horse battery staple"
OPERATOR = system_actor()
PROXY = "10.0.0.2"


class Deployment:
    """One database and the settings every instance shares (one home, or one config)."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.settings = load_settings(env={}, home=home, session_secret=secrets.token_hex(32),
                                      forwarded_allow_ips=PROXY)
        self.engines: list[Engine] = []

    def instance(self) -> Starlette:
        """A console as a new worker or a restarted process builds it: its own engine, its own
        control plane, nothing shared in memory with any other instance."""
        engine = second_engine(self.engine)
        self.engines.append(engine)
        plane = ControlPlane(ControlContext(engine=engine, catalog=default_catalog()))
        return Starlette(routes=[Mount("/console", build_console_app(plane, self.settings))])

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def deployment(backend_engine: Engine, tmp_path: Path) -> Iterator[Deployment]:
    plane = ControlPlane(ControlContext(engine=backend_engine, catalog=default_catalog()))
    plane.orgs.create(OPERATOR, "Acme", "api")
    for email in ("admin@acme.test", "owner@acme.test"):
        plane.accounts.create_user(OPERATOR, email, PASSWORD, org_roles={"Acme": ["org_admin"]})
    built = Deployment(backend_engine, tmp_path / "home")
    yield built
    built.close()


def browser(app: Starlette, peer: str = "203.0.113.7", cookie: str | None = None) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(peer, 50000),
                      cookies={"zdr_console": cookie} if cookie else None)


def sign_in(client: TestClient, email: str, password: str = PASSWORD,
            headers: dict[str, str] | None = None) -> int:
    token = csrf_of(client.get("/console/login").text)
    return client.post("/console/login", headers=headers, data={
        "email": email, "password": password, "csrf_token": token}).status_code


def signed_in(client: TestClient) -> bool:
    return client.get("/console/").status_code == 303 and not client.get(
        "/console/").headers["location"].startswith("/console/login")


def token_in(cookie: str) -> str:
    body = cookie.split(".")[0]
    return str(orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["s"])


# ---------------------------------------------------------------- the sign-in rate limit

def test_failed_sign_ins_on_one_instance_count_on_another(deployment: Deployment) -> None:
    one, other = browser(deployment.instance()), browser(deployment.instance())
    with one, other:
        assert [sign_in(one, "admin@acme.test", f"guess {i}") for i in range(3)] == [401] * 3
        assert [sign_in(other, "admin@acme.test", f"guess {i}") for i in range(2)] == [401] * 2
        assert sign_in(one, "admin@acme.test") == 429           # even the right password
        assert sign_in(other, "admin@acme.test") == 429
        assert sign_in(other, "owner@acme.test") == 303         # another account


def test_a_restart_keeps_the_count(deployment: Deployment) -> None:
    with browser(deployment.instance()) as before:
        assert [sign_in(before, "admin@acme.test", f"guess {i}") for i in range(5)] == [401] * 5
    deployment.close()                                         # the process is gone
    with browser(deployment.instance()) as after:
        refused = after.post("/console/login", data={
            "email": "admin@acme.test", "password": PASSWORD,
            "csrf_token": csrf_of(after.get("/console/login").text)})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 800      # most of the 15-minute window


def test_a_made_up_forwarded_for_from_an_untrusted_peer_changes_nothing(
    deployment: Deployment,
) -> None:
    with browser(deployment.instance(), peer="203.0.113.7") as attacker:
        codes = [sign_in(attacker, "admin@acme.test", f"guess {i}",
                         headers={"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(5)]
        assert codes == [401] * 5
        assert sign_in(attacker, "admin@acme.test",
                       headers={"X-Forwarded-For": "198.51.100.200"}) == 429
    with deployment.engine.connect() as conn:
        addresses = conn.execute(select(login_attempts.c.address_hash).distinct()).all()
    assert len(addresses) == 1          # every attempt counted against the peer itself


def test_behind_a_trusted_proxy_each_client_counts_apart(deployment: Deployment) -> None:
    app = deployment.instance()
    with browser(app, peer=PROXY) as proxy:
        # A client behind the proxy guesses, and writes its own X-Forwarded-For each time;
        # the proxy appends the address it saw, and only that one is believed.
        for i in range(5):
            assert sign_in(proxy, "admin@acme.test", f"guess {i}",
                           headers={"X-Forwarded-For": f"192.0.2.{i}, 198.51.100.9"}) == 401
        assert sign_in(proxy, "admin@acme.test",
                       headers={"X-Forwarded-For": "192.0.2.99, 198.51.100.9"}) == 429
        # Another client behind the same proxy is not held off by the first one's guesses.
        proxy.cookies.clear()
        assert sign_in(proxy, "admin@acme.test",
                       headers={"X-Forwarded-For": "198.51.100.10"}) == 303


def test_a_success_clears_only_its_own_failures(deployment: Deployment) -> None:
    with browser(deployment.instance()) as client:
        assert [sign_in(client, "admin@acme.test", f"guess {i}") for i in range(4)] == [401] * 4
        assert sign_in(client, "admin@acme.test") == 303
    with deployment.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(login_attempts)).scalar_one() == 0


# ---------------------------------------------------------------- sessions

def test_signing_out_on_one_instance_ends_the_session_on_another(
    deployment: Deployment,
) -> None:
    one, other = deployment.instance(), deployment.instance()
    with browser(one) as client:
        assert sign_in(client, "admin@acme.test") == 303
        cookie = client.cookies["zdr_console"]
        with browser(other, cookie=cookie) as elsewhere:
            assert signed_in(elsewhere)                         # one session, every instance
            page = client.get("/console/", follow_redirects=True)
            client.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
            assert not signed_in(elsewhere)
    with browser(other, cookie=cookie) as thief:                # a copy of the old cookie
        assert not signed_in(thief)


def test_sessions_survive_a_restart_and_sign_outs_stay_signed_out(
    deployment: Deployment,
) -> None:
    with browser(deployment.instance()) as kept, browser(deployment.instance()) as ended:
        assert sign_in(kept, "admin@acme.test") == 303
        assert sign_in(ended, "owner@acme.test") == 303
        kept_cookie, ended_cookie = kept.cookies["zdr_console"], ended.cookies["zdr_console"]
        page = ended.get("/console/", follow_redirects=True)
        ended.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    deployment.close()                                          # every process is gone
    restarted = deployment.instance()
    with browser(restarted, cookie=kept_cookie) as client:
        assert signed_in(client)
    with browser(restarted, cookie=ended_cookie) as client:
        assert not signed_in(client)


def test_the_database_holds_only_a_hash_of_the_session_token(deployment: Deployment) -> None:
    with browser(deployment.instance()) as client:
        assert sign_in(client, "admin@acme.test") == 303
        token = token_in(client.cookies["zdr_console"])
    with deployment.engine.connect() as conn:
        rows = conn.execute(select(console_sessions)).all()
    assert len(token) >= 43 and [row.token_hash for row in rows] == [hash_secret(token)]
    assert token not in repr(rows)


@pytest.mark.parametrize("end", ["password", "disable"])
def test_a_password_change_or_disabling_ends_every_session_of_the_user(
    deployment: Deployment, end: str,
) -> None:
    one, other = deployment.instance(), deployment.instance()
    with browser(one) as first, browser(other) as second, browser(other) as bystander:
        assert sign_in(first, "admin@acme.test") == 303
        assert sign_in(second, "admin@acme.test") == 303
        assert sign_in(bystander, "owner@acme.test") == 303
        plane = ControlPlane(ControlContext(engine=deployment.engine, catalog=default_catalog()))
        if end == "password":
            plane.accounts.set_password(OPERATOR, "admin@acme.test", "a brand new password")
        else:
            plane.accounts.disable_user(OPERATOR, "admin@acme.test")
        assert not signed_in(first) and not signed_in(second)
        assert signed_in(bystander)


def test_an_expired_session_is_refused(deployment: Deployment) -> None:
    from datetime import UTC, datetime, timedelta

    with browser(deployment.instance()) as client:
        assert sign_in(client, "admin@acme.test") == 303
        with deployment.engine.begin() as conn:
            conn.execute(console_sessions.update().values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert not signed_in(client)
