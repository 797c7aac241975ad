"""The console under `zdr serve --workers 2`, as deployed: the sign-in rate limit and sign-out hold
across worker processes, and a client on the same host cannot choose its address with
X-Forwarded-For (no proxy is configured)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from serve_process import ZdrHome

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a long enough password"
PEOPLE = ("guessed@provider.example", "kept@provider.example")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = ZdrHome.fresh(tmp_path_factory.mktemp("serve-console") / "home")
    home.zdr("init")
    for email in PEOPLE:
        home.zdr("users", "create", email, "--provider-role", "reviewer", "--password-stdin",
                 stdin=PASSWORD + "\n")
    with home.serve("--workers", "2") as served:
        yield served.url


def attempt(client: httpx.Client, email: str, password: str,
            headers: dict[str, str] | None = None) -> int:
    match = CSRF.search(client.get("/console/login").text)
    assert match
    return client.post("/console/login", headers=headers, data={
        "email": email, "password": password, "csrf_token": match.group(1)}).status_code


@pytest.mark.slow
def test_a_forwarded_for_from_a_local_client_does_not_reset_the_limit(served: str) -> None:
    with httpx.Client(base_url=served, follow_redirects=False) as client:
        codes = [attempt(client, PEOPLE[0], f"guess {i}",
                         headers={"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(5)]
        assert codes == [401] * 5
        assert attempt(client, PEOPLE[0], PASSWORD,
                       headers={"X-Forwarded-For": "198.51.100.77"}) == 429


@pytest.mark.slow
def test_a_cookie_signed_out_on_one_worker_is_refused_by_every_worker(served: str) -> None:
    with httpx.Client(base_url=served, follow_redirects=False) as client:
        assert attempt(client, PEOPLE[1], PASSWORD) == 303
        copied = client.cookies["zdr_console"]
        page = client.get("/console/reviews")
        assert page.status_code == 200
        match = CSRF.search(page.text)
        assert match
        assert client.post("/console/logout", data={"csrf_token": match.group(1)}
                           ).status_code == 303
    # New connections each time: the two workers share the listening socket, so these land on
    # both of them.
    codes = set()
    for _ in range(12):
        with httpx.Client(base_url=served, follow_redirects=False,
                          cookies={"zdr_console": copied}) as thief:
            codes.add(thief.get("/console/reviews").status_code)
    assert codes == {303}
