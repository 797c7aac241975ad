"""Path tricks against a real `zdr serve` (gateway, console fallback, SQL store, the stand-in
upstream it starts), sent with a raw socket as an attacker sends them.

Every route prefix of the closed table by every encoding trick by every method must get a 4xx, and
the stand-in upstream (its own request log, `GET /stub/requests`) must receive nothing. The
answers come in the API's error format, except for the bytes the HTTP server itself refuses
before any application sees the request (a raw NUL, control or non-ASCII byte): uvicorn answers
those with its own plain `400 Bad Request`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from serve_process import ZdrHome
from store_seeder import Seeder
from zdr.gateway.routes import TABLE
from zdr.testing.rawhttp import raw_request

METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")


@dataclass(frozen=True)
class Trick:
    name: str
    suffix: str                       # appended to a route's path; "{file}" is org A's file id
    server_refuses: bool = False      # uvicorn answers 400 itself (not in the API format)


TRICKS = [
    Trick("parent_segment", "/../../../files/{file}"),
    Trick("current_segment", "/./x"),
    Trick("trailing_parent", "/.."),
    Trick("encoded_slash", "%2F..%2F..%2F..%2Ffiles%2F{file}"),
    Trick("encoded_slash_lower", "%2f..%2f{file}"),
    Trick("encoded_dots", "/%2e%2e/%2E%2E/files/{file}"),
    Trick("half_encoded_dots", "/.%2e/{file}"),
    Trick("encoded_backslash", "%5C..%5C{file}"),
    Trick("encoded_backslash_lower", "%5c..%5c{file}"),
    Trick("backslash", "\\..\\{file}"),
    Trick("doubled_slash", "//{file}"),
    Trick("encoded_nul", "%00"),
    Trick("encoded_non_utf8", "%ff%fe"),
    Trick("overlong_dot", "/%c0%ae%c0%ae/{file}"),
    Trick("bad_escape", "%zz"),
    Trick("encoded_letter", "/%66iles"),
    Trick("raw_nul", "\x00", server_refuses=True),
    Trick("raw_non_utf8", "\xff", server_refuses=True),
    Trick("raw_control", "\x01", server_refuses=True),
]
# One path per pattern (each route prefix), its placeholders filled with harmless ids.
PREFIXES = sorted({"/" + "/".join("x_1" if s.startswith("{") else s for s in route.segments)
                   for route in TABLE})


@dataclass
class Served:
    base: str
    port: int
    stub: str
    attacker: str
    file_id: str
    client: httpx.Client      # one client: a new one per call costs tens of milliseconds

    def received(self) -> list[dict[str, str]]:
        answer = self.client.get(self.stub + "/stub/requests")
        requests: list[dict[str, str]] = answer.json()["requests"]
        return requests


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve-paths") / "home"
    seeder = Seeder(home)
    (owner, _), (attacker, _) = seeder.org("paths-owner"), seeder.org("paths-attacker")
    seeder.close()
    zdr_home = ZdrHome.fresh(home, ZDR_CLASSIFIER="zdr.safety.classifier:NullClassifier")
    served = zdr_home.serve()       # the null classifier: it starts at once
    client = httpx.Client(timeout=10)
    try:
        base = served.url
        upload = client.post(base + "/v1/files", headers={"x-api-key": owner},
                             files={"file": ("a.txt", b"owner's data")})
        assert upload.status_code == 200, upload.text
        yield Served(base, served.port, f"http://127.0.0.1:{zdr_home.stub_port}", attacker,
                     upload.json()["id"], client)
    finally:
        client.close()
        served.stop()


@pytest.mark.parametrize("trick", TRICKS, ids=[t.name for t in TRICKS])
@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_trick_on_every_route_and_method_is_refused_before_the_upstream(
    served: Served, prefix: str, trick: Trick
) -> None:
    target = (prefix + trick.suffix.format(file=served.file_id)).encode("latin-1")
    before = len(served.received())
    for method in METHODS:
        answer = raw_request(served.port, method, target,
                             [("x-api-key", served.attacker),
                              ("content-type", "application/json")], b"{}")
        assert 400 <= answer.status < 500, (method, target, answer.status, answer.body)
        assert served.file_id.encode() not in answer.body
        if not trick.server_refuses:
            body = json.loads(answer.body)
            assert body["type"] == "error", body
            assert body["error"]["type"] == "invalid_request_error", body
    assert served.received()[before:] == []


def test_the_console_and_admin_api_get_the_same_check(served: Served) -> None:
    """The control plane shares the ASGI app: a trick aimed at it is refused before it runs."""
    for target in (b"/console/../v1/files", b"/admin/v1/../../v1/files", b"/console/%2e%2e/x",
                   b"/admin%2Fv1/me", b"/console//login"):
        answer = raw_request(served.port, "GET", target)
        assert answer.status == 400, (target, answer.body)
        assert json.loads(answer.body)["error"]["type"] == "invalid_request_error"
    assert served.client.get(served.base + "/console/login").status_code == 200


def test_the_suite_reaches_a_serving_gateway_and_a_logging_upstream(served: Served) -> None:
    """Guard against a vacuous run: a clean path is relayed, and the stand-in logs it as sent."""
    answer = raw_request(served.port, "GET", b"/v1/models?beta=true",
                         [("x-api-key", served.attacker)])
    assert answer.status == 200, answer.body
    assert served.received()[-1] == {"method": "GET", "target": "/v1/models?beta=true"}


def test_route_prefixes_cover_the_whole_table() -> None:
    assert len(PREFIXES) == len(TABLE)        # one prefix per pattern, none merged
