from conftest import sign_in


def test_smoke(client, world):
    r = client.get("/console/login")
    assert r.status_code == 200
    token = sign_in(client, "admin@acme.test")
    r = client.get(f"/console/orgs/{world.org_ids['Acme']}/privacy")
    print(r.status_code, r.headers)
    assert r.status_code == 200, r.text
