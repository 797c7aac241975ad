"""Organization names: normalised, visible characters only, never shaped like an id, unique
ignoring case; an organization is looked up by id or by name, never by either."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from zdr.catalog import default_catalog
from zdr.control.api import build_admin_app
from zdr.control.context import ControlContext, find_org
from zdr.control.org_names import OrgId, OrgName, looks_like_id, name_key, normalize_name
from zdr.control.plane import ControlPlane
from zdr.control.roles import system_actor
from zdr.errors import Conflict, InvalidRequest, NotFound
from zdr.store.tables import organizations

OPERATOR = system_actor()
FULL_WIDTH_ACME = "\uff21\uff43\uff4d\uff45"
SOME_ID = "8c2f6a7e-51d4-4c4b-9a55-0f1e2d3c4b5a"


@pytest.mark.parametrize("given, stored", [
    ("  Acme  ", "Acme"),                           # trimmed
    (FULL_WIDTH_ACME + " Corp", "Acme Corp"),       # full-width letters: NFKC
    ("Acme\u00a0Corp", "Acme Corp"),                # no-break space: NFKC
    ("Café", "Café"),                               # composed
    ("Cafe\u0301", "Café"),                         # decomposed: NFKC composes
    ("ﬁnance", "finance"),                          # a ligature
    ("株式会社アクメ", "株式会社アクメ"),              # any script
    ("org-1", "org-1"),
])
def test_names_are_stored_nfkc_normalised(given: str, stored: str) -> None:
    assert normalize_name(given) == stored


@pytest.mark.parametrize("name, why", [
    ("", "needs a name"),
    ("   ", "needs a name"),
    ("x" * 201, "at most 200"),
    ("Acme\u202eevil", "text-direction"),           # right-to-left override (Cf)
    ("Acme\u2066x\u2069", "text-direction"),        # isolates (Cf)
    ("\u200eAcme", "text-direction"),               # left-to-right mark (Cf)
    ("Ac\u200bme", "text-direction"),               # zero-width space (Cf)
    ("Ac\u00adme", "text-direction"),               # soft hyphen (Cf)
    ("Acme\x00", "text-direction"),                 # NUL (Cc)
    ("Acme\nInc", "text-direction"),                # newline (Cc)
    ("Acme\tInc", "text-direction"),                # tab (Cc)
    ("Acme\x1b[31m", "text-direction"),             # a terminal escape (Cc)
    ("Acme\u2028Inc", "text-direction"),            # line separator (Zl)
    ("Acme\ue000", "text-direction"),               # private use (Co)
    (SOME_ID, "look like an organization id"),
    (SOME_ID.upper(), "look like an organization id"),
    (SOME_ID.replace("-", ""), "look like an organization id"),
    ("{" + SOME_ID + "}", "look like an organization id"),
    ("urn:uuid:" + SOME_ID, "look like an organization id"),
    ("\uff18c2f6a7e-51d4-4c4b-9a55-0f1e2d3c4b5a", "look like an organization id"),  # after NFKC
])
def test_refused_names_say_what_to_change_without_echoing_the_name(name: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why) as refused:
        normalize_name(name)
    assert name.strip() not in refused.value.message or not name.strip()
    assert "\n" not in refused.value.message


def test_names_compare_ignoring_case_and_look_alike_forms() -> None:
    assert len({name_key(n) for n in ("Acme", "ACME", "acme", FULL_WIDTH_ACME, " acme ")}) == 1
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("Acme") != name_key("Acme 2")
    assert looks_like_id(SOME_ID) and not looks_like_id("acme")


# ---------------------------------------------------------------- through the services

@pytest.fixture
def plane(backend_engine: Engine) -> ControlPlane:
    return ControlPlane(ControlContext(engine=backend_engine, catalog=default_catalog()))


@pytest.mark.parametrize("second", ["ACME", "acme", FULL_WIDTH_ACME, " Acme "])
def test_names_are_unique_ignoring_case(plane: ControlPlane, second: str) -> None:
    plane.orgs.create(OPERATOR, "Acme", "api")
    with pytest.raises(Conflict, match="already exists"):
        plane.orgs.create(OPERATOR, second, "api")


def test_a_deleted_orgs_name_stays_taken(plane: ControlPlane) -> None:
    plane.orgs.create(OPERATOR, "Acme", "api")
    plane.orgs.delete(OPERATOR, "Acme")
    with pytest.raises(Conflict):
        plane.orgs.create(OPERATOR, "acme", "api")


def test_no_name_equals_an_organizations_id(plane: ControlPlane, backend_engine: Engine) -> None:
    with backend_engine.begin() as conn:      # an org whose id is not a UUID (older data)
        conn.execute(organizations.insert().values(
            id="org-7", name="Seven", plan="api", created_at=datetime.now(UTC),
            zdr_status="none", hipaa=False))
    with pytest.raises(Conflict):
        plane.orgs.create(OPERATOR, "org-7", "api")
    created = plane.orgs.create(OPERATOR, "Initech", "api")
    with pytest.raises(InvalidRequest, match="look like an organization id"):
        plane.orgs.create(OPERATOR, created.id, "api")


def test_lookups_by_name_ignore_case_and_by_id_are_ids_only(plane: ControlPlane) -> None:
    acme = plane.orgs.create(OPERATOR, "Acme", "api")
    assert plane.orgs.show(OPERATOR, "ACME").id == acme.id
    assert plane.orgs.show(OPERATOR, OrgName("acme")).id == acme.id
    assert plane.orgs.show(OPERATOR, OrgId(acme.id.upper())).id == acme.id
    assert plane.orgs.show(OPERATOR, acme.id).id == acme.id
    with pytest.raises(NotFound):
        plane.orgs.show(OPERATOR, OrgId("Acme"))         # a name is not an id
    with pytest.raises(NotFound):
        plane.orgs.show(OPERATOR, OrgName(acme.id))      # an id is not a name


def test_an_org_named_like_another_orgs_id_never_answers_for_it(
    plane: ControlPlane, backend_engine: Engine
) -> None:
    """An older row whose name is another org's id (no longer possible to create): a lookup by
    that id finds the org with that id, whatever order the rows are in."""
    victim_id = str(uuid.uuid4())
    with backend_engine.begin() as conn:
        for org_id, name in ((str(uuid.uuid4()), victim_id), (victim_id, "Victim")):
            conn.execute(organizations.insert().values(
                id=org_id, name=name, plan="api", created_at=datetime.now(UTC),
                zdr_status="none", hipaa=False))
        assert find_org(conn, victim_id).name == "Victim"
        assert find_org(conn, OrgId(victim_id)).name == "Victim"
    assert plane.orgs.show(OPERATOR, victim_id).name == "Victim"
    plane.orgs.delete(OPERATOR, victim_id)
    with pytest.raises(NotFound):      # the deleted org, not the one named like its id
        plane.workspaces.create(OPERATOR, victim_id, "planted")
    with pytest.raises(NotFound):
        plane.keys.create(OPERATOR, victim_id)


# ---------------------------------------------------------------- through the admin API

@pytest.fixture
def api(plane: ControlPlane) -> Iterator[tuple[TestClient, dict[str, str]]]:
    plane.accounts.create_user(OPERATOR, "admin@provider.example",
                               provider_roles=["provider_admin"])
    token = plane.accounts.create_token(OPERATOR, "admin@provider.example").secret
    with TestClient(build_admin_app(lambda: plane)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("name", ["Evil\u202eCorp", "Tab\tCorp", SOME_ID, "Ac\u200bme"])
def test_the_admin_api_refuses_bad_names_with_400(
    api: tuple[TestClient, dict[str, str]], name: str
) -> None:
    client, auth = api
    response = client.post("/admin/v1/orgs", headers=auth, json={"name": name, "plan": "api"})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert name not in response.text


def test_the_admin_api_refuses_a_name_differing_only_in_case_with_409(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    assert client.post("/admin/v1/orgs", headers=auth,
                       json={"name": "Acme", "plan": "api"}).status_code == 201
    response = client.post("/admin/v1/orgs", headers=auth, json={"name": "ACME", "plan": "api"})
    assert response.status_code == 409 and response.json()["type"] == "error"


def test_the_admin_api_takes_the_id_and_the_name_in_separate_parameters(
    api: tuple[TestClient, dict[str, str]], plane: ControlPlane,
) -> None:
    client, auth = api
    acme = plane.orgs.create(OPERATOR, "Acme", "api")
    by_name = client.get("/admin/v1/orgs", headers=auth, params={"name": "acme"}).json()
    assert [org["id"] for org in by_name] == [acme.id]
    assert client.get("/admin/v1/orgs", headers=auth, params={"name": acme.id}).json() == []
    ok = [client.get("/admin/v1/audit", headers=auth, params=params).status_code
          for params in ({"org_id": acme.id}, {"org_name": "Acme"}, {"org": acme.id})]
    assert ok == [200, 200, 200]
    assert client.get("/admin/v1/audit", headers=auth,
                      params={"org_id": "Acme"}).status_code == 404
    assert client.get("/admin/v1/audit", headers=auth,
                      params={"org_name": acme.id}).status_code == 404
    both = client.get("/admin/v1/holds", headers=auth,
                      params={"org_id": acme.id, "org_name": "Acme"})
    assert both.status_code == 400 and both.json()["type"] == "error"
