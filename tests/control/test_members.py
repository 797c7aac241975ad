"""Adding people to an organization tells its owner nothing about accounts outside it, and never
pulls provider staff into an org. Services and admin API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from zdr.catalog import default_catalog
from zdr.control.api import build_admin_app
from zdr.control.context import ControlContext
from zdr.control.plane import ControlPlane
from zdr.control.roles import Actor, system_actor
from zdr.control.views import as_dict
from zdr.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from zdr.store.tables import memberships, users

OPERATOR = system_actor()
OUTSIDERS = [
    "member@globex.example",     # has an account, in another org
    "reviewer@provider.example",  # provider staff
    "padmin@provider.example",    # provider staff, an admin
    "nobody@nowhere.example",     # no account at all
]


@dataclass
class People:
    plane: ControlPlane
    owner: Actor
    tokens: dict[str, str]

    def actor(self, email: str) -> Actor:
        return self.plane.accounts.actor_for_email(email)


@pytest.fixture
def people(backend_engine: Engine) -> People:
    plane = ControlPlane(ControlContext(engine=backend_engine, catalog=default_catalog()))
    plane.orgs.create(OPERATOR, "acme", "enterprise")
    plane.orgs.create(OPERATOR, "globex", "enterprise")
    accounts = plane.accounts
    accounts.create_user(OPERATOR, "owner@acme.example", org_roles={"acme": ["org_owner"]})
    accounts.create_user(OPERATOR, "member@globex.example", org_roles={"globex": ["org_admin"]})
    accounts.create_user(OPERATOR, "reviewer@provider.example", provider_roles=["reviewer"])
    accounts.create_user(OPERATOR, "padmin@provider.example", provider_roles=["provider_admin"])
    tokens = {email: accounts.create_token(OPERATOR, email).secret
              for email in ("owner@acme.example", "padmin@provider.example")}
    return People(plane, accounts.actor_for_email("owner@acme.example"), tokens)


@pytest.fixture
def api(people: People) -> Iterator[TestClient]:
    with TestClient(build_admin_app(lambda: people.plane)) as client:
        yield client


def without_email(answer: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in answer.items() if key != "email"}


def test_an_owner_gets_the_same_answer_whatever_the_email_is(people: People) -> None:
    answers = [as_dict(people.plane.accounts.grant(people.owner, email, "acme", "org_member"))
               for email in OUTSIDERS]
    assert [a["email"] for a in answers] == OUTSIDERS
    assert all(without_email(a) == without_email(answers[0]) for a in answers)
    assert set(answers[0]) == {"email", "org_id", "roles"}       # nothing about the account
    assert answers[0]["roles"] == ("org_member",)


def test_the_admin_api_answers_alike_too(people: People, api: TestClient) -> None:
    auth = {"Authorization": f"Bearer {people.tokens['owner@acme.example']}"}
    bodies = []
    for email in OUTSIDERS:
        response = api.post("/admin/v1/orgs/acme/members", headers=auth,
                            json={"email": email, "role": "org_member"})
        assert response.status_code == 200, response.text
        bodies.append(response.json())
        older = api.post(f"/admin/v1/users/{email}/memberships", headers=auth,
                         json={"org": "acme", "role": "org_member"})
        assert older.status_code == 200 and older.json() == response.json()
    assert all(without_email(body) == without_email(bodies[0]) for body in bodies)
    rest = str([without_email(body) for body in bodies])
    assert not any(word in rest for word in ("reviewer", "provider", "globex", "created"))


def test_adding_to_an_org_one_does_not_own_says_only_not_found(people: People) -> None:
    stranger = people.actor("member@globex.example")      # an admin of globex, not its owner
    messages = set()
    for email in [*OUTSIDERS, "owner@acme.example"]:
        with pytest.raises(NotFound) as refused:
            people.plane.accounts.grant(stranger, email, "acme", "org_member")
        messages.add(refused.value.message)
    assert messages == {"organization not found"}


def test_provider_staff_are_never_pulled_into_an_org(people: People, api: TestClient) -> None:
    accounts = people.plane.accounts
    accounts.add_member(people.owner, "acme", "reviewer@provider.example", "org_owner")
    with pytest.raises(Conflict, match="provider staff"):
        accounts.add_member(OPERATOR, "acme", "reviewer@provider.example", "org_admin")
    padmin = {"Authorization": f"Bearer {people.tokens['padmin@provider.example']}"}
    refused = api.post("/admin/v1/orgs/acme/members", headers=padmin,
                       json={"email": "reviewer@provider.example", "role": "org_owner"})
    assert refused.status_code == 409 and refused.json()["type"] == "error"
    with pytest.raises(InvalidRequest, match="provider staff"):
        accounts.create_user(OPERATOR, "both@provider.example", provider_roles=["legal"],
                             org_roles={"acme": ["org_member"]})
    reviewer = people.actor("reviewer@provider.example")
    assert reviewer.org_roles == {} and reviewer.provider_roles == {"reviewer"}
    with pytest.raises(PermissionDenied):        # not the org's owner, whatever was recorded
        people.plane.orgs.delete(reviewer, "acme")
    with pytest.raises(PermissionDenied):
        people.plane.keys.create(reviewer, "acme")


def test_a_staff_membership_made_before_is_not_honoured(
    people: People, backend_engine: Engine
) -> None:
    acme = people.plane.orgs.show(OPERATOR, "acme").id
    with backend_engine.begin() as conn:
        user_id = conn.execute(users.select().where(
            users.c.email == "reviewer@provider.example")).one().id
        conn.execute(memberships.insert().values(id="legacy", user_id=user_id, org_id=acme,
                                                 role="org_owner"))
    assert people.actor("reviewer@provider.example").org_roles == {}


def test_the_orgs_audit_log_reads_alike_for_every_email(people: People) -> None:
    for email in OUTSIDERS:
        people.plane.accounts.add_member(people.owner, "acme", email, "org_member")
    seen = people.plane.audit.list(people.owner, "acme", limit=1000)
    grants = [(e.action, e.target, e.after) for e in seen if e.action != "org.create"]
    assert grants == [("membership.grant", email, {"role": "org_member"})
                      for email in OUTSIDERS]


def test_a_new_member_has_an_account_without_a_password(people: People) -> None:
    from zdr.errors import AuthenticationFailed

    people.plane.accounts.add_member(people.owner, "acme", "nobody@nowhere.example", "org_member")
    newcomer = people.actor("nobody@nowhere.example")
    assert newcomer.org_roles == {people.plane.orgs.show(OPERATOR, "acme").id:
                                  frozenset({"org_member"})}
    with pytest.raises(AuthenticationFailed):
        people.plane.accounts.check_password("nobody@nowhere.example", "")
    people.plane.accounts.set_password(OPERATOR, "nobody@nowhere.example", "twelve chars ok")
    assert people.plane.accounts.check_password(
        "nobody@nowhere.example", "twelve chars ok").email == "nobody@nowhere.example"


def test_members_lists_the_orgs_people_and_only_their_roles_there(people: People) -> None:
    accounts = people.plane.accounts
    with pytest.raises(NotFound):             # not a member of acme: acme does not exist
        accounts.members(people.actor("member@globex.example"), "acme")
    accounts.add_member(people.owner, "acme", "member@globex.example", "org_member")
    accounts.add_member(people.owner, "acme", "reviewer@provider.example", "org_member")
    listed = {m.email: m.roles for m in accounts.members(people.owner, "acme")}
    assert listed == {"member@globex.example": ("org_member",),      # as added, nothing more
                      "owner@acme.example": ("org_owner",),
                      "reviewer@provider.example": ("org_member",)}  # recorded, grants nothing
    with pytest.raises(PermissionDenied):     # an org member of acme now, not an admin
        accounts.members(people.actor("member@globex.example"), "acme")


def test_passwords_are_set_by_their_owner_or_a_provider_admin(people: People) -> None:
    accounts = people.plane.accounts
    accounts.set_password(OPERATOR, "owner@acme.example", "first password 1")
    with pytest.raises(InvalidRequest, match="current password"):
        accounts.set_password(people.owner, "owner@acme.example", "second password 2")
    with pytest.raises(InvalidRequest, match="current password"):
        accounts.set_password(people.owner, "owner@acme.example", "second password 2",
                              current_password="wrong password!")
    accounts.set_password(people.owner, "owner@acme.example", "second password 2",
                          current_password="first password 1")
    with pytest.raises(PermissionDenied):
        accounts.set_password(people.owner, "member@globex.example", "taken over pw 3")
    with pytest.raises(PermissionDenied):
        accounts.disable_user(people.owner, "member@globex.example")
