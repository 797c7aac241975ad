"""The console's pages for people and organizations: new organizations (names checked), an
organization's members (added without learning about other accounts), your own password."""

from __future__ import annotations

import pytest
from console_world import PASSWORD, csrf_of, sign_in
from starlette.testclient import TestClient

from zdr.control.roles import system_actor

OPERATOR = system_actor()
NEW_PASSWORD = "a completely new password"


# ---------------------------------------------------------------- new organizations

@pytest.mark.parametrize("name, message", [
    ("Evil\u202eCorp", "text-direction"),
    ("Zero\u200bWidth", "text-direction"),
    ("6f1c9a52-8d6e-4f0b-9b7e-2a4c6d8e0f13", "look like an organization id"),
    ("ACME", "already exists"),              # Acme exists: names ignore case
    ("", "needs a name"),
])
def test_a_refused_org_name_is_shown_next_to_the_field(client, world, name, message):
    token = sign_in(client, "padmin@provider.test")
    response = client.post("/console/orgs", data={"csrf_token": token, "name": name,
                                                  "plan": "api"})
    assert response.status_code == 400
    assert 'id="name-error"' in response.text and message in response.text
    assert 'aria-describedby="name-error"' in response.text
    assert len(world.plane.orgs.list(OPERATOR)) == 3


def test_a_provider_admin_creates_an_org(client, world):
    token = sign_in(client, "padmin@provider.test")
    response = client.post("/console/orgs", data={"csrf_token": token, "name": " Initech ",
                                                  "plan": "team"})
    assert response.status_code == 303
    created = world.plane.orgs.show(OPERATOR, "initech")
    assert created.name == "Initech" and response.headers["location"].endswith(
        f"/orgs/{created.id}/privacy?done=org-created")


@pytest.mark.parametrize("email", ["reviewer@provider.test", "owner@acme.test"])
def test_only_provider_admins_create_orgs(client, world, email):
    token = sign_in(client, email)
    assert 'action="/console/orgs"' not in client.get("/console/orgs").text
    response = client.post("/console/orgs", data={"csrf_token": token, "name": "Sneaky",
                                                  "plan": "api"})
    assert response.status_code in (403, 404)
    assert len(world.plane.orgs.list(OPERATOR)) == 3


# ---------------------------------------------------------------- members

def members_url(world, org="Acme"):
    return f"/console/orgs/{world.org_ids[org]}/members"


def test_an_owner_sees_the_same_answer_for_any_email(client, world):
    token = sign_in(client, "owner@acme.test")
    pages = []
    for email in ("owner@globex.test", "reviewer@provider.test", "nobody@nowhere.test"):
        added = client.post(members_url(world), data={"csrf_token": token, "email": email,
                                                      "role": "org_member"})
        assert added.status_code == 303
        assert added.headers["location"].endswith("?done=member-added")
        pages.append(client.get(added.headers["location"]).text)
    listed = pages[-1]
    for email in ("owner@globex.test", "reviewer@provider.test", "nobody@nowhere.test"):
        assert email in listed                                 # listed as added, alike
    assert "Globex" not in listed and "reviewer</td>" not in listed
    reviewer = world.plane.accounts.actor_for_email("reviewer@provider.test")
    assert reviewer.org_roles == {}                            # staff are never pulled in


def test_a_bad_email_or_role_is_shown_next_to_the_field(client, world):
    token = sign_in(client, "owner@acme.test")
    response = client.post(members_url(world), data={"csrf_token": token, "email": "nope",
                                                      "role": "emperor"})
    assert response.status_code == 400
    assert 'id="email-error"' in response.text and 'id="role-error"' in response.text


def test_admins_see_members_but_only_owners_add_them(client, world):
    token = sign_in(client, "admin@acme.test")
    page = client.get(members_url(world))
    assert page.status_code == 200 and "owner@acme.test" in page.text
    assert "Add a member" not in page.text
    response = client.post(members_url(world), data={"csrf_token": token,
                                                      "email": "x@acme.test", "role": "org_owner"})
    assert response.status_code == 403


@pytest.mark.parametrize("email", ["owner@globex.test", "member@acme.test"])
def test_members_are_hidden_from_others(client, world, email):
    sign_in(client, email)
    assert client.get(members_url(world)).status_code in (403, 404)


def test_a_provider_admin_is_told_staff_cannot_join(client, world):
    token = sign_in(client, "padmin@provider.test")
    response = client.post(members_url(world), data={
        "csrf_token": token, "email": "legal@provider.test", "role": "org_member"})
    assert response.status_code == 400 and "Provider staff cannot" in response.text


# ---------------------------------------------------------------- your password

def change(client: TestClient, token: str, current: str, new: str, confirm: str | None = None):
    return client.post("/console/account/password", data={
        "csrf_token": token, "current_password": current, "new_password": new,
        "confirm_password": new if confirm is None else confirm})


@pytest.mark.parametrize("current, new, confirm, field", [
    ("", NEW_PASSWORD, None, "current_password"),
    ("wrong password!!", NEW_PASSWORD, None, "current_password"),
    (PASSWORD, "too short", None, "new_password"),
    (PASSWORD, NEW_PASSWORD, "something else entirely", "confirm_password"),
])
def test_a_refused_password_change_says_which_field(client, world, current, new, confirm, field):
    token = sign_in(client, "member@acme.test")
    response = change(client, token, current, new, confirm)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert world.plane.accounts.check_password("member@acme.test", PASSWORD)


def test_changing_the_password_signs_out_everywhere_else(app, client, world):
    with TestClient(app, follow_redirects=False) as elsewhere:
        sign_in(elsewhere, "member@acme.test")
        token = sign_in(client, "member@acme.test")
        old_cookie = client.cookies["zdr_console"]
        response = change(client, token, PASSWORD, NEW_PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"].endswith("/account?done=password-changed")
        assert client.get("/console/account").status_code == 200          # still signed in
        assert elsewhere.get("/console/account").status_code == 303       # signed out
    with TestClient(app, follow_redirects=False, cookies={"zdr_console": old_cookie}) as copy:
        assert copy.get("/console/account").status_code == 303
    assert world.plane.accounts.check_password("member@acme.test", NEW_PASSWORD)


def test_guessing_the_current_password_is_rate_limited(client, world):
    token = sign_in(client, "member@acme.test")
    codes = [change(client, token, f"guess number {i}", NEW_PASSWORD).status_code
             for i in range(6)]
    assert codes == [400] * 5 + [429]
    assert "Too many failed sign-ins" in change(client, token, PASSWORD, NEW_PASSWORD).text


def test_the_account_page_is_linked_from_every_page(client, world):
    sign_in(client, "member@acme.test")
    page = client.get(f"/console/orgs/{world.org_ids['Acme']}/privacy").text
    assert 'href="/console/account"' in page
    assert csrf_of(client.get("/console/account").text)
