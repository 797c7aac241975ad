"""Role x action x own/other org → allowed or denied, through the services and the admin API.

Org people acting on another org get "not found" (they may not learn it exists); anyone else
without the role gets "permission denied". Provider roles are not tied to an org.
"""

from __future__ import annotations

import pytest
from control_world import OTHER, OWN, World
from fastapi.testclient import TestClient
from isolation_cases import CASES, FLAGGED_CANARY, GLOBAL_CASES, Case

from zdr.control.roles import ALL_ROLES, ORG_ROLES
from zdr.errors import NotFound, PermissionDenied

TABLE = [
    pytest.param(case, role, target, id=f"{case.action}-{role}-{target}")
    for case in CASES for role in ALL_ROLES for target in ("own", "other")
]
GLOBAL_TABLE = [
    pytest.param(case, role, id=f"{case.action}-{role}") for case in GLOBAL_CASES
    for role in ALL_ROLES
]


# Reads leave no audit entry (except reading flagged content); every change adds exactly one.
READS = {"org.show", "zdr.history", "workspace.list", "key.list", "hold.list", "flagged.list",
         "audit.list"}


def expected(case: Case, role: str, target: str) -> str:
    if role in ORG_ROLES and target == "other":
        return "hidden"
    return "allowed" if role in case.allowed else "denied"


@pytest.mark.parametrize(("case", "role", "target"), TABLE)
def test_service_isolation(world: World, case: Case, role: str, target: str) -> None:
    """The service layer itself enforces who may act on which org."""
    org = OWN if target == "own" else OTHER
    prep = case.prep(world, org)
    outcome = expected(case, role, target)
    before = world.plane.audit.verify(world.operator).entries
    if outcome == "allowed":
        case.service(world, world.people[role], org, prep)
        grown = 0 if case.action in READS else 1
        assert world.plane.audit.verify(world.operator).entries == before + grown
        return
    with pytest.raises(NotFound if outcome == "hidden" else PermissionDenied):
        case.service(world, world.people[role], org, prep)
    assert world.plane.audit.verify(world.operator).entries == before   # refused: nothing done


@pytest.mark.parametrize(("case", "role", "target"), TABLE)
def test_api_isolation(
    world: World, client: TestClient, case: Case, role: str, target: str
) -> None:
    """Every admin API route gives the same verdicts, as 2xx / 403 / 404 in the error format."""
    org = OWN if target == "own" else OTHER
    prep = case.prep(world, org)
    method, path, body = case.http(org, prep)
    response = client.request(method, path, json=body,
                              headers={"Authorization": f"Bearer {world.tokens[role]}"})
    outcome = expected(case, role, target)
    if outcome == "allowed":
        assert response.status_code in (200, 201), response.text
        return
    assert response.status_code == (404 if outcome == "hidden" else 403), response.text
    assert response.json()["type"] == "error"
    assert FLAGGED_CANARY not in response.text


@pytest.mark.parametrize(("case", "role"), GLOBAL_TABLE)
def test_global_actions(world: World, client: TestClient, case: Case, role: str) -> None:
    """Actions over no single org: only the listed provider roles, in services and API alike."""
    allowed = role in case.allowed
    if allowed:
        case.service(world, world.people[role], OWN, {})
    else:
        with pytest.raises(PermissionDenied):
            case.service(world, world.people[role], OWN, {})
    # the same action through the API on a fresh name, so a success above cannot conflict
    method, path, body = case.http(OWN, {})
    if body and "name" in body:
        body = {**body, "name": "initech-2"}
    if body and body.get("email") == "x@people.example":
        body = {**body, "email": "y@people.example"}
    response = client.request(method, path, json=body,
                              headers={"Authorization": f"Bearer {world.tokens[role]}"})
    assert response.status_code == ((200, 201)[method == "POST"] if allowed else 403), response.text


def test_org_people_list_only_their_orgs(world: World) -> None:
    """Listing organizations shows org people their own org and nothing else."""
    for role in ORG_ROLES:
        assert [o.name for o in world.plane.orgs.list(world.people[role])] == [OWN]
    assert [o.name for o in world.plane.orgs.list(world.people["reviewer"])] == [OWN, OTHER]


def test_flagged_read_is_audited_without_content(world: World) -> None:
    """Each read of flagged content appends an audit entry that names the record, not the text."""
    from isolation_cases import prep_flagged

    record = prep_flagged(world, OWN)["record"]
    found = world.plane.flagged.read(world.people["trust_safety"], record)
    assert found.content == FLAGGED_CANARY
    last = world.plane.audit.list(world.operator, after_seq=0, limit=1000)[-1]
    assert (last.action, last.target, last.actor) == ("flagged.read", str(record),
                                                      "trust-safety@people.example")
    with world.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM audit_log"))
    assert FLAGGED_CANARY not in dump


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("target", ["own", "other"])
def test_hipaa_cannot_be_disabled_by_anyone(
    world: World, client: TestClient, role: str, target: str
) -> None:
    """DELETE /orgs/{org}/hipaa: 409 for those who may manage HIPAA, 403/404 for the rest."""
    org = OWN if target == "own" else OTHER
    world.plane.arrangements.accept_baa(world.operator, org, "2026-01")
    may_manage = role in {"provider_admin", "org_owner", "org_admin"}
    hidden = role in ORG_ROLES and target == "other"
    status = 404 if hidden else 409 if may_manage else 403
    response = client.delete(f"/admin/v1/orgs/{org}/hipaa",
                             headers={"Authorization": f"Bearer {world.tokens[role]}"})
    assert response.status_code == status, response.text
    assert world.plane.orgs.show(world.operator, org).hipaa is True


@pytest.mark.parametrize("role", ALL_ROLES)
def test_api_org_listing_is_filtered_per_role(
    world: World, client: TestClient, role: str
) -> None:
    listed = client.get("/admin/v1/orgs",
                        headers={"Authorization": f"Bearer {world.tokens[role]}"}).json()
    assert [o["name"] for o in listed] == ([OWN] if role in ORG_ROLES else [OWN, OTHER])
