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
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from zdr.gateway.routes import TABLE
from zdr.keys import new_api_key
from zdr.settings import load_settings
from zdr.store import tables
from zdr.store.crypto import create_master_key_file
from zdr.store.db import engine_for, migrate
from zdr.testing.rawhttp import raw_request
from zdr.testing.servers import free_port, wait_port

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]
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


def seed_org(engine: object, name: str) -> str:
    now = datetime.now(UTC)
    org_id, ws_id, key = str(uuid.uuid4()), str(uuid.uuid4()), new_api_key()
    with engine.begin() as conn:                                    # type: ignore[attr-defined]
        conn.execute(tables.organizations.insert().values(
            id=org_id, name=name, plan="api", created_at=now, zdr_status="none", hipaa=False))
        conn.execute(tables.workspaces.insert().values(
            id=ws_id, org_id=org_id, name="default", created_at=now))
        conn.execute(tables.api_keys.insert().values(
            id=str(uuid.uuid4()), org_id=org_id, workspace_id=ws_id, kind="api",
            prefix=key.prefix, key_hash=key.digest, created_at=now))
    return key.secret


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve-paths") / "home"
    settings = load_settings(env={}, home=home)
    engine = engine_for(settings.database_url)
    migrate(engine)
    create_master_key_file(settings.key_file)
    owner, attacker = seed_org(engine, "paths-owner"), seed_org(engine, "paths-attacker")
    engine.dispose()
    port, stub_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    env.update(ZDR_HOME=str(home), ZDR_STUB_PORT=str(stub_port),
               ZDR_CLASSIFIER="zdr.safety.classifier:NullClassifier")   # starts at once
    output = (home.parent / "serve.out").open("w")     # a file: a full pipe would stall it
    server = subprocess.Popen([*ZDR, "serve", "--port", str(port)], env=env,
                              stdout=output, stderr=subprocess.STDOUT)
    client = httpx.Client(timeout=10)
    try:
        wait_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"
        upload = client.post(base + "/v1/files", headers={"x-api-key": owner},
                             files={"file": ("a.txt", b"owner's data")})
        assert upload.status_code == 200, upload.text
        yield Served(base, port, f"http://127.0.0.1:{stub_port}", attacker,
                     upload.json()["id"], client)
    finally:
        client.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        output.close()


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
