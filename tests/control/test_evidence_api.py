"""Evidence over the admin API: an org owner erases an end user of their own org (signed
receipt) and issues statements for it; another org stays hidden; the signing key is public."""

from __future__ import annotations

from datetime import timedelta

from control_world import SIGNER, START, World
from fastapi.testclient import TestClient

from zdr.proof.verify import verify_file

P = "/admin/v1"


def auth(world: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[role]}"}


def test_an_org_owner_erases_an_end_user_and_gets_a_signed_receipt(
        world: World, client: TestClient) -> None:
    response = client.post(f"{P}/orgs/acme/end-users/erase", json={"end_user": "user-42"},
                           headers=auth(world, "org_owner"))
    assert response.status_code == 200, response.text
    receipt = verify_file(response.content, [SIGNER.public_pem])
    assert receipt.kind == "zdr.erasure-receipt/v1" and receipt.payload["org"]["name"] == "acme"
    assert "user-42" not in response.text
    listed = client.get(f"{P}/orgs/acme/attestations", headers=auth(world, "org_owner")).json()
    assert [d["kind"] for d in listed] == ["receipt"]
    again = client.get(f"{P}/attestations/{listed[0]['seq']}", headers=auth(world, "org_owner"))
    assert again.content == response.content


def test_another_orgs_end_users_and_documents_stay_hidden(world: World,
                                                          client: TestClient) -> None:
    for path in ("/orgs/globex/end-users/erase", "/orgs/globex/attestations"):
        body = {"end_user": "x"} if "erase" in path else {
            "since": START.isoformat(), "until": (START + timedelta(hours=1)).isoformat()}
        response = client.post(P + path, json=body, headers=auth(world, "org_owner"))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["type"] == "error"
    members = client.post(f"{P}/orgs/acme/end-users/erase", json={"end_user": "x"},
                          headers=auth(world, "org_member"))
    assert members.status_code == 403


def test_an_org_admin_issues_a_statement_for_its_org(world: World, client: TestClient) -> None:
    response = client.post(f"{P}/orgs/acme/attestations", headers=auth(world, "org_admin"),
                           json={"since": START.isoformat(),
                                 "until": (START + timedelta(hours=1)).isoformat()})
    assert response.status_code == 200, response.text
    statement = verify_file(response.content, [SIGNER.public_pem]).payload
    assert statement["org"]["name"] == "acme" and statement["exchanges"]["total"] == 0
