"""Security checks on a live deployment (`zdr serve`, SQLite home): secrets are never stored or
logged in clear — API keys, admin tokens and passwords are used against the running gateway and
console, then every file of the home (database, WAL, logs) is scanned for them with `zdr verify`;
secret files are private; the console refuses a sign-in without its CSRF token and sends its
security headers; an org owner's admin token aimed at another org through the live admin API
gets nowhere. (Every admin action, for every role, on its own and another org, is pinned by the
control plane's isolation table, tests/control/test_isolation.py; console pages by tests/console.)
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from deployment import Deployment, Org

from zdr.control.plane import build_control_plane
from zdr.control.roles import system_actor
from zdr.settings import load_settings

pytestmark = pytest.mark.slow
USER_PASSWORD = "correct-horse-battery-staple-42"
WRONG_PASSWORD = "wrong-horse-battery-staple-4242"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    deployment = Deployment(tmp_path_factory.mktemp("security") / "home")
    try:
        init = json.loads(deployment.zdr("init", "--json").stdout)
        plane = build_control_plane(load_settings(env={}, home=deployment.home))
        operator = system_actor()
        org = plane.orgs.create(operator, "sec-acme", "api")
        plane.accounts.create_user(operator, "owner@acme.example", USER_PASSWORD,
                                   org_roles={"sec-acme": ["org_owner"]})
        key = plane.keys.create(operator, "sec-acme", None, "api", None).secret
        other = plane.orgs.create(operator, "sec-other", "api")
        other_key = plane.keys.create(operator, "sec-other", None, "api", None).secret
        deployment.orgs["sec-other"] = Org("sec-other", "standard", other_key, other.id)
        token = plane.accounts.create_token(operator, "owner@acme.example").secret
        plane.ctx.engine.dispose()
        deployment.orgs["sec-acme"] = Org("sec-acme", "standard", key, org.id)
        deployment.start_stub()
        deployment.start_gateway(workers=1)
        yield deployment, {"api key": key, "admin token": init["admin_token"],
                           "admin password": init["admin_password"],
                           "user token": token, "user password": USER_PASSWORD,
                           "wrong password": WRONG_PASSWORD, "wrong key": key[:-4] + "zzzz"}
    finally:
        deployment.close()


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the sign-in form carries a CSRF token"
    return found.group(1)


def test_secrets_used_on_the_live_gateway_are_nowhere_in_clear(live: Any) -> None:
    deployment, secrets = live
    client = anthropic.Anthropic(api_key=secrets["api key"], base_url=deployment.url,
                                 max_retries=0, timeout=20.0)
    reply = client.messages.create(model="claude-haiku-4-5", max_tokens=16,
                                   messages=[{"role": "user", "content": "hello"}])
    assert reply.content
    wrong = anthropic.Anthropic(api_key=secrets["wrong key"], base_url=deployment.url,
                                max_retries=0, timeout=20.0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model="claude-haiku-4-5", max_tokens=16,
                              messages=[{"role": "user", "content": "hello"}])
    client.close()
    wrong.close()
    with httpx.Client(base_url=deployment.url, timeout=20) as web:
        form = web.get("/console/login")
        for password in (secrets["wrong password"], secrets["user password"]):
            web.post("/console/login", data={
                "email": "owner@acme.example", "password": password,
                "csrf_token": csrf_token(form.text), "next": "/"})
        for token in (secrets["admin token"], secrets["user token"]):
            seen = web.get("/admin/v1/me", headers={"authorization": f"Bearer {token}"})
            assert seen.status_code == 200
        assert web.get("/admin/v1/me", headers={
            "authorization": f"Bearer {secrets['admin token']}x"}).status_code == 401
    deployment.stop_gateway()

    args = [arg for secret in secrets.values() for arg in ("--canary", secret)]
    parts = {secret.rsplit("-", 1)[-1] for secret in secrets.values()}   # the random part alone
    args += [arg for part in sorted(parts) if len(part) >= 16 for arg in ("--canary", part)]
    done = deployment.zdr("verify", *args, "--json", "--quiet", check=False)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert done.returncode == 0, [c["violations"] for c in report["checks"] if c["violations"]]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["canaries"]["examined"] >= 3          # database, WAL, log files at least
    assert checks["secrets_at_rest"]["examined"] >= 4   # keys, tokens and users looked at
    deployment.start_gateway(workers=1)


def test_secret_files_are_private(live: Any) -> None:
    deployment, _ = live
    home: Path = deployment.home
    assert stat.S_IMODE((home / "master.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0, "the home is private to its owner"
    for path in home.iterdir():
        if "key" in path.name or "secret" in path.name:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


def test_console_sign_in_without_csrf_token_is_refused(live: Any) -> None:
    deployment, _ = live
    with httpx.Client(base_url=deployment.url, timeout=20) as web:
        web.get("/console/login")
        answer = web.post("/console/login", data={
            "email": "owner@acme.example", "password": USER_PASSWORD, "next": "/"})
        assert answer.status_code in (400, 403)


def test_console_pages_send_security_headers(live: Any) -> None:
    deployment, _ = live
    with httpx.Client(base_url=deployment.url, timeout=20) as web:
        headers = web.get("/console/login").headers
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", "") \
        or headers.get("x-frame-options", "").upper() == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"
    assert "default-src" in headers.get("content-security-policy", "")
    assert headers.get("referrer-policy")
    assert headers.get("cache-control") == "no-store"


def test_a_world_readable_master_key_file_is_refused(live: Any, tmp_path: Path) -> None:
    from zdr.store.crypto import MasterKeyError, load_master_key

    deployment, _ = live
    copy = tmp_path / "master.key"
    copy.write_bytes((deployment.home / "master.key").read_bytes())
    copy.chmod(0o644)
    settings = load_settings(env={}, home=deployment.home, master_key_file=str(copy))
    with pytest.raises(MasterKeyError):
        load_master_key(settings)


def test_another_orgs_file_cannot_be_fetched_through_the_gateway(live: Any) -> None:
    deployment, _ = live
    acme, other = deployment.orgs["sec-acme"], deployment.orgs["sec-other"]
    with httpx.Client(base_url=deployment.url, timeout=20) as web:
        created = web.post("/v1/files", headers={"x-api-key": acme.key},
                           files={"file": ("notes.txt", b"acme's data")})
        assert created.status_code == 200
        file_id = created.json()["id"]
        stolen = web.get(f"/v1/files/{file_id}", headers={"x-api-key": other.key})
    assert stolen.status_code in (403, 404)


ATTACKS = [                     # (method, path under /admin/v1, body): all aimed at sec-other
    ("GET", "/orgs/sec-other", None),
    ("GET", "/orgs/{other_id}", None),                      # by id instead of name
    ("GET", "/orgs/sec-other/keys", None),
    ("POST", "/orgs/sec-other/keys", {"kind": "api"}),
    ("POST", "/orgs/sec-other/zdr/request", {"reason": "takeover"}),
    ("POST", "/orgs/sec-other/zdr/approve", {}),
    ("PUT", "/orgs/sec-other/retention", {"days": 3650}),
    ("POST", "/orgs/sec-other/hipaa", {"version": "2026-01"}),
    ("DELETE", "/orgs/sec-other", None),
    ("GET", "/orgs/sec-other/workspaces", None),
    ("POST", "/orgs/sec-other/workspaces", {"name": "mine"}),
    ("GET", "/orgs/sec-other/flagged", None),
    ("GET", "/audit?org=sec-other", None),
    ("POST", "/holds", {"org": "sec-other", "reason": "x", "scope": "org"}),
    ("POST", "/users/owner@acme.example/memberships", {"org": "sec-other", "role": "org_owner"}),
]


@pytest.mark.parametrize("method, path, body", ATTACKS)
def test_an_org_owner_cannot_reach_another_org_through_the_admin_api(
    live: Any, method: str, path: str, body: dict[str, Any] | None
) -> None:
    deployment, secrets = live
    other = deployment.orgs["sec-other"]
    url = "/admin/v1" + path.format(other_id=other.org_id)
    with httpx.Client(base_url=deployment.url, timeout=20) as web:
        answer = web.request(method, url, json=body,
                             headers={"authorization": f"Bearer {secrets['user token']}"})
        assert answer.status_code in (403, 404, 422), (method, path, answer.text[:200])
        assert answer.json()["type"] == "error"
        mine = web.get("/admin/v1/orgs/sec-acme",
                       headers={"authorization": f"Bearer {secrets['user token']}"})
    assert mine.status_code == 200                           # the token itself works
    if answer.status_code == 422:                            # refused before any org lookup
        return
    assert "sec-other" not in answer.text or answer.status_code == 403


def test_the_attacked_routes_exist_for_the_operator(live: Any) -> None:
    """The 404s above are isolation, not missing routes: the provider admin sees the org."""
    deployment, secrets = live
    other = deployment.orgs["sec-other"]
    with httpx.Client(base_url=deployment.url, timeout=20) as web:
        for path in ("/orgs/sec-other", f"/orgs/{other.org_id}", "/orgs/sec-other/keys",
                     "/orgs/sec-other/workspaces", "/audit?org=sec-other"):
            answer = web.get("/admin/v1" + path,
                             headers={"authorization": f"Bearer {secrets['admin token']}"})
            assert answer.status_code == 200, (path, answer.text[:200])
