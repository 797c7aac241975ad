"""Security of the console's HTTP surface: headers, cookies, CSRF, rate limiting, sessions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from console_world import PASSWORD, csrf_of, sign_in
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from zdr.console import build_console_app
from zdr.console.ratelimit import Limit, LoginRateLimiter
from zdr.control.roles import system_actor

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "zdr" / "console" / "templates"


def assert_security_headers(response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("method, path", [
    ("GET", "/console/login"),                 # a page
    ("GET", "/console/"),                      # a redirect to sign in
    ("GET", "/console/static/console.css"),    # a static file
    ("GET", "/console/no/such/page"),          # a 404
    ("POST", "/console/login"),                # a refused form (no CSRF token)
    ("GET", "/console/orgs"),                  # a signed-out redirect from a provider page
])
def test_every_kind_of_response_carries_the_security_headers(client, method, path):
    response = client.request(method, path)
    assert_security_headers(response)


def test_pages_are_not_cached_but_static_files_may_be(client):
    assert client.get("/console/login").headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/console/static/console.css").headers.get(
        "cache-control", "")


def test_templates_hold_no_inline_script_style_or_event_handler():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "<script" not in text, template.name
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle\s*=", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name


def test_session_cookie_is_httponly_samesite_strict_and_scoped(client):
    cookie = client.get("/console/login").headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie       # plain http in this test


def test_cookie_is_secure_when_configured(world, limiter):
    settings = world.settings.model_copy(update={"console_secure_cookies": True})
    app = Starlette(routes=[Mount("/console", build_console_app(world.plane, settings))])
    with TestClient(app, base_url="http://testserver") as secure_client:
        response = secure_client.get("/console/login")
    assert "Secure" in response.headers["set-cookie"]
    assert "max-age=31536000" in response.headers["strict-transport-security"]


def test_cookie_is_secure_when_served_over_tls(app):
    with TestClient(app, base_url="https://testserver") as tls_client:
        assert "Secure" in tls_client.get("/console/login").headers["set-cookie"]


def test_sign_in_without_csrf_token_is_refused(client):
    client.get("/console/login")
    response = client.post("/console/login", data={"email": "admin@acme.test",
                                                   "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/console/").status_code == 303    # not signed in


def test_sign_in_with_another_sessions_csrf_token_is_refused(app):
    with TestClient(app) as one, TestClient(app) as other:
        token = csrf_of(one.get("/console/login").text)
        other.get("/console/login")
        response = other.post("/console/login", data={
            "email": "admin@acme.test", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403


def test_wrong_password_gives_one_message_and_no_session(client):
    token = csrf_of(client.get("/console/login").text)
    for email in ("admin@acme.test", "nobody@acme.test"):
        response = client.post("/console/login", data={
            "email": email, "password": "wrong password!", "csrf_token": token})
        assert response.status_code == 401
        assert "Invalid email or password." in response.text
    assert client.get("/console/").status_code == 303   # still signed out


def test_missing_fields_are_reported_next_to_each_field(client):
    token = csrf_of(client.get("/console/login").text)
    response = client.post("/console/login", data={"email": "", "password": "",
                                                   "csrf_token": token})
    assert response.status_code == 400
    assert 'id="email-error"' in response.text and 'aria-describedby="email-error"' in response.text
    assert 'id="password-error"' in response.text


def test_sign_in_rotates_the_session_and_its_csrf_token(client):
    anonymous_token = csrf_of(client.get("/console/login").text)
    anonymous_cookie = client.cookies["zdr_console"]
    signed_in_token = sign_in(client, "admin@acme.test")
    assert signed_in_token != anonymous_token
    assert client.cookies["zdr_console"] != anonymous_cookie


@pytest.mark.parametrize("path, fields", [
    ("/console/logout", {}),
    ("/console/orgs/{acme}/zdr-request", {"reason": "x"}),
    ("/console/reviews/{acme}/approve", {}),
    ("/console/reviews/{acme}/deny", {"note": "no"}),
    ("/console/holds", {"org": "{acme}", "scope": "org", "reason": "r"}),
    ("/console/holds/some-hold/release", {}),
    ("/console/flagged/1", {}),
    ("/console/orgs", {"name": "Initech", "plan": "api"}),
    ("/console/orgs/{acme}/members", {"email": "x@acme.test", "role": "org_member"}),
    ("/console/account/password", {"current_password": "correct horse battery staple",
                                   "new_password": "0123456789abc",
                                   "confirm_password": "0123456789abc"}),
])
@pytest.mark.parametrize("token", ["", "forged-token"])
def test_every_post_needs_the_sessions_csrf_token(client, world, path, fields, token):
    acme = world.org_ids["Acme"]
    sign_in(client, "padmin@provider.test")
    before = len(world.plane.audit.list(system_actor(), limit=1000))
    data = {k: v.format(acme=acme) for k, v in fields.items()}
    if token:
        data["csrf_token"] = token
    response = client.post(path.format(acme=acme), data=data)
    assert response.status_code == 403
    assert "security token" in response.text
    assert len(world.plane.audit.list(system_actor(), limit=1000)) == before
    assert client.get("/console/orgs").status_code == 200   # still signed in: logout refused too


def test_rate_limit_stops_guessing_for_one_email_and_address(world):
    limiter = LoginRateLimiter(world.plane.ctx.engine, per_account_address=Limit(3, 900),
                               per_address=Limit(100, 900))
    app = Starlette(routes=[Mount("/console", build_console_app(world.plane, world.settings,
                                                                limiter=limiter))])
    with TestClient(app, follow_redirects=False) as client:
        token = csrf_of(client.get("/console/login").text)

        def attempt(email: str, password: str):
            return client.post("/console/login", data={"email": email, "password": password,
                                                       "csrf_token": token})

        assert [attempt("admin@acme.test", f"guess-{i}").status_code for i in range(3)] == [
            401, 401, 401]
        blocked = attempt("admin@acme.test", PASSWORD)        # even the right password
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        assert attempt("ADMIN@acme.test ", PASSWORD).status_code == 429   # same account
        assert attempt("owner@acme.test", PASSWORD).status_code == 303    # another account


def test_rate_limit_per_address_slows_spraying_across_emails(world):
    limiter = LoginRateLimiter(world.plane.ctx.engine, per_account_address=Limit(100, 900),
                               per_address=Limit(4, 900))
    app = Starlette(routes=[Mount("/console", build_console_app(world.plane, world.settings,
                                                                limiter=limiter))])
    with TestClient(app, follow_redirects=False) as client:
        token = csrf_of(client.get("/console/login").text)
        codes = [client.post("/console/login", data={
            "email": f"user{i}@acme.test", "password": "guess", "csrf_token": token}).status_code
            for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]


def test_sign_out_ends_the_session_even_for_a_copied_cookie(client, app):
    token = sign_in(client, "admin@acme.test")
    copied = client.cookies["zdr_console"]
    response = client.post("/console/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"].startswith(
        "/console/login")
    assert client.get("/console/orgs").status_code == 303     # signed out
    with TestClient(app, follow_redirects=False, cookies={"zdr_console": copied}) as thief:
        assert thief.get("/console/").headers["location"].startswith("/console/login")


def test_tampered_or_foreign_cookie_is_ignored(client, world):
    sign_in(client, "admin@acme.test")
    value = client.cookies["zdr_console"]
    body, mac = value.split(".")
    client.cookies.set("zdr_console", body + "." + mac[::-1], path="/console")
    assert client.get("/console/").status_code == 303   # to the sign-in page


@pytest.mark.parametrize("target, expected", [
    ("/reviews", "/console/reviews"),
    ("//evil.example/phish", "/console/"),
    ("https://evil.example/", "/console/"),
    ("/\\evil.example", "/console/"),
])
def test_next_after_sign_in_stays_inside_the_console(client, target, expected):
    token = csrf_of(client.get("/console/login").text)
    response = client.post("/console/login", data={
        "email": "reviewer@provider.test", "password": PASSWORD, "csrf_token": token,
        "next": target})
    assert response.headers["location"] == expected


def test_disabled_user_is_signed_out_on_the_next_request(client, world):
    from sqlalchemy import update

    from zdr.store.tables import users

    sign_in(client, "admin@acme.test")
    assert client.get(f"/console/orgs/{world.org_ids['Acme']}/privacy").status_code == 200
    with world.plane.ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.email == "admin@acme.test")
                     .values(disabled_at=world.plane.ctx.now()))
    assert client.get(f"/console/orgs/{world.org_ids['Acme']}/privacy").status_code == 303


def test_oversized_form_bodies_are_refused_before_parsing(client):
    token = csrf_of(client.get("/console/login").text)
    response = client.post("/console/login", data={"email": "a@b.test", "password": "x" * 70_000,
                                                   "csrf_token": token})
    assert response.status_code == 413
    assert_security_headers(response)
