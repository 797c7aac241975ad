"""The admin API's surface: auth, the error format and status codes, the OpenAPI document."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from control_world import World
from fastapi.testclient import TestClient

from zdr.errors import STORE_DOWN

P = "/admin/v1"


def auth(world: World, role: str = "provider_admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[role]}"}


def assert_error(response: object, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == "error" and body["error"]["type"] == error_type
    return str(body["error"]["message"])


def test_openapi_document_is_served_at_a_stable_path(client: TestClient) -> None:
    doc = client.get(f"{P}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/admin/v1/orgs", "/admin/v1/orgs/{org}/zdr/approve", "/admin/v1/audit/verify",
            "/admin/v1/holds", "/admin/v1/tokens"} <= set(doc["paths"])
    approve = doc["paths"]["/admin/v1/orgs/{org}/zdr/approve"]["post"]
    assert {"400", "401", "403", "404", "409", "422"} <= set(approve["responses"])


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "no token"),
    ({"Authorization": "Bearer zdra-00000000-forged"}, "unknown token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "wrong scheme"),
])
def test_401_without_a_valid_admin_token(client: TestClient, headers: dict[str, str],
                                         why: str) -> None:
    response = client.get(f"{P}/orgs", headers=headers)
    assert_error(response, 401, "authentication_error")


def test_the_lifecycle_over_http(world: World, client: TestClient) -> None:
    """An org owner requests, a reviewer approves, the org shows ZDR in force; then revoked."""
    r = client.post(f"{P}/orgs/acme/zdr/request", json={"reason": "contract"},
                    headers=auth(world, "org_owner"))
    assert r.status_code == 200 and r.json()["zdr_status"] == "requested"
    r = client.post(f"{P}/orgs/acme/zdr/approve", json={"note": "ok"},
                    headers=auth(world, "reviewer"))
    assert r.json()["zdr_in_force"] is True
    assert client.get(f"{P}/orgs/acme", headers=auth(world, "org_member")).json()["retention"] \
        .startswith("Zero data retention")
    r = client.post(f"{P}/orgs/acme/zdr/revoke", json={}, headers=auth(world, "reviewer"))
    assert r.json()["zdr_status"] == "revoked"
    report = client.get(f"{P}/audit/verify", headers=auth(world)).json()
    assert report["ok"] is True


@pytest.mark.parametrize(("method", "path", "body", "status", "error_type"), [
    # 400: refused by the rules (consumer plan / bounds)
    ("PUT", "/orgs/acme/retention", {"days": 10}, 400, "invalid_request_error"),
    # 404: unknown org, unknown route
    ("GET", "/orgs/nowhere", None, 404, "not_found_error"),
    ("GET", "/no/such/route", None, 404, "not_found_error"),
    # 409: wrong state
    ("POST", "/orgs/acme/zdr/approve", {}, 409, "invalid_request_error"),
    ("DELETE", "/orgs/acme/hipaa", None, 409, "invalid_request_error"),
    # 422: body fails validation (unknown field, wrong type, missing field)
    ("POST", "/orgs", {"name": "x", "plan": "api", "zdr": True}, 422, "invalid_request_error"),
    ("PUT", "/orgs/acme/retention", {"days": "many"}, 422, "invalid_request_error"),
    ("POST", "/orgs", {"plan": "api"}, 422, "invalid_request_error"),
])
def test_error_statuses_in_the_api_error_format(
    world: World, client: TestClient, method: str, path: str, body: object, status: int,
    error_type: str,
) -> None:
    assert_error(client.request(method, P + path, json=body, headers=auth(world)),
                 status, error_type)


def test_validation_errors_name_the_field_but_never_echo_the_value(
    world: World, client: TestClient
) -> None:
    canary = "CANARY-9d1e-value"
    response = client.put(f"{P}/orgs/acme/retention", json={"days": canary}, headers=auth(world))
    message = assert_error(response, 422, "invalid_request_error")
    assert "days" in message and canary not in response.text


def test_malformed_json_is_a_422_in_the_error_format(world: World, client: TestClient) -> None:
    response = client.post(f"{P}/orgs", content=b"{not json", headers={
        **auth(world), "content-type": "application/json"})
    assert_error(response, 422, "invalid_request_error")


def test_key_secret_only_in_the_create_response(world: World, client: TestClient) -> None:
    created = client.post(f"{P}/orgs/acme/keys", json={"kind": "api"}, headers=auth(world))
    assert created.status_code == 201
    secret = created.json()["secret"]
    listing = client.get(f"{P}/orgs/acme/keys", headers=auth(world)).text
    audit_text = client.get(f"{P}/audit", headers=auth(world)).text
    assert secret not in listing and secret not in audit_text
    assert created.json()["prefix"] in listing


@pytest.mark.parametrize("plan", ["free", "pro", "max", "team"])
def test_zdr_and_baa_for_other_plans_are_a_400_naming_the_allowed_plans(
    world: World, client: TestClient, plan: str
) -> None:
    """ZDR and a BAA can only be granted to api and enterprise orgs: the API says so."""
    name = f"small-{plan}"
    created = client.post(f"{P}/orgs", json={"name": name, "plan": plan}, headers=auth(world))
    assert created.status_code in (200, 201), created.text
    for path, body in ((f"/orgs/{name}/zdr/request", {"reason": "please"}),
                       (f"/orgs/{name}/hipaa", {"version": "2026-01"})):
        message = assert_error(client.post(P + path, json=body, headers=auth(world)), 400,
                               "invalid_request_error")
        assert "api or enterprise plans" in message and f"organization is {plan}" in message
    shown = client.get(f"{P}/orgs/{name}", headers=auth(world)).json()
    assert shown["zdr_status"] == "none" and shown["hipaa"] is False


def test_enterprise_seat_key_for_an_api_org_is_a_400(world: World, client: TestClient) -> None:
    client.post(f"{P}/orgs", json={"name": "builder", "plan": "api"}, headers=auth(world))
    message = assert_error(client.post(f"{P}/orgs/builder/keys", json={"kind": "enterprise_seat"},
                                       headers=auth(world)), 400, "invalid_request_error")
    assert "enterprise plan" in message


def test_a_dead_database_is_a_503_in_the_api_format(
        world: World, client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """The SQLite file is replaced by a directory: the driver's error reaches the admin API as
    the tree's DatabaseUnavailable — 503, the API's format, logged by the driver's type only."""
    path = Path(world.engine.url.database or "")
    world.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.mkdir()
    canary = "canary-admin-outage-3f0a"
    with caplog.at_level(logging.WARNING, logger="zdr.outage"):
        response = client.post(f"{P}/orgs", json={"name": canary, "plan": "api"},
                               headers=auth(world))
    assert assert_error(response, 503, "api_error") == STORE_DOWN
    assert canary not in response.text and canary not in caplog.text
    assert "store unavailable on admin_api: OperationalError" in caplog.text


def test_an_unexpected_error_says_what_the_gateway_says(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug is a 500 with the gateway's own words for it (it used to say "internal error"),
    naming nothing of the exception."""
    from zdr.control.api import build_admin_app
    from zdr.errors import UNEXPECTED

    canary = "canary-admin-bug-77d1"

    def broken(*_: object) -> None:
        raise KeyError(canary)

    monkeypatch.setattr(world.plane.orgs, "list", broken)
    with TestClient(build_admin_app(lambda: world.plane), raise_server_exceptions=False) as web:
        response = web.get(f"{P}/orgs", headers=auth(world))
    assert assert_error(response, 500, "api_error") == UNEXPECTED
    assert canary not in response.text
