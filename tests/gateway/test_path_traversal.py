"""The upstream is called on exactly the path that was checked (zdr.gateway.paths).

Each case below is an attack found in review that the gateway once answered 200: the router and
the ownership checks read one path while the HTTP client, resolving dot segments, called the
upstream on another. Sent with a raw socket, as `curl --path-as-is` sends them (HTTP clients
normalise such paths before sending). Each must now be a 400 in the API's error format, with
the stand-in upstream never asked.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from zdr.testing.rawhttp import RawAnswer, raw_request

MYTHOS = {"model": "claude-mythos-5", "max_tokens": 8,
          "messages": [{"role": "user", "content": "hello"}]}


def upload(gw: Any, key: str) -> str:
    answer = httpx.post(gw.url + "/v1/files", headers={"x-api-key": key},
                        files={"file": ("notes.txt", b"org data")})
    assert answer.status_code == 200, answer.text
    file_id: str = answer.json()["id"]
    return file_id


def assert_refused_path(answer: RawAnswer) -> None:
    assert answer.status == 400, answer.body
    body = answer.json()
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


def test_a_dot_segment_cannot_turn_a_models_path_into_another_orgs_file(
    stub: Any, gateway: Any
) -> None:
    a_key, _ = gateway.directory.create_key("trav-a")
    b_key, _ = gateway.directory.create_key("trav-b")
    file_id = upload(gateway, a_key)
    before = stub.stub.stats.requests
    answer = raw_request(gateway.port, "GET", f"/v1/models/../files/{file_id}".encode(),
                         [("x-api-key", b_key)])
    assert_refused_path(answer)
    assert file_id not in answer.body.decode()
    assert stub.stub.stats.requests == before


def test_encoded_slashes_cannot_hide_another_orgs_file_behind_an_own_id(
    stub: Any, gateway: Any
) -> None:
    a_key, _ = gateway.directory.create_key("trav-enc-a")
    b_key, _ = gateway.directory.create_key("trav-enc-b")
    theirs, mine = upload(gateway, a_key), upload(gateway, b_key)
    before = stub.stub.stats.requests
    for target in (f"/v1/files/{mine}%2F..%2F{theirs}", f"/v1/files/{mine}%2f..%2f{theirs}"):
        answer = raw_request(gateway.port, "GET", target.encode(), [("x-api-key", b_key)])
        assert_refused_path(answer)
        assert theirs not in answer.body.decode()
    assert stub.stub.stats.requests == before


def test_a_delete_through_dot_segments_deletes_nothing_and_forgets_nothing(
    stub: Any, gateway: Any
) -> None:
    a_key, _ = gateway.directory.create_key("trav-del-a")
    b_key, _ = gateway.directory.create_key("trav-del-b")
    theirs, mine = upload(gateway, a_key), upload(gateway, b_key)
    before = stub.stub.stats.requests
    answer = raw_request(gateway.port, "DELETE", f"/v1/files/{mine}/../{theirs}".encode(),
                         [("x-api-key", b_key)])
    assert_refused_path(answer)
    assert stub.stub.stats.requests == before
    assert theirs in stub.stub.created["file"]                       # A's file is still there
    owners = gateway.app.ownership.owners.resources
    assert ("file", mine) in owners and ("file", theirs) in owners   # nothing forgotten


def test_a_session_path_cannot_reach_the_file_list_of_every_org(
    stub: Any, gateway: Any
) -> None:
    a_key, _ = gateway.directory.create_key("trav-list-a")
    b_key, _ = gateway.directory.create_key("trav-list-b")
    theirs = upload(gateway, a_key)
    before = stub.stub.stats.requests
    answer = raw_request(gateway.port, "GET", b"/v1/sessions/../files", [("x-api-key", b_key)])
    assert_refused_path(answer)
    assert theirs not in answer.body.decode()
    assert stub.stub.stats.requests == before


def test_a_session_path_cannot_carry_a_covered_model_past_the_policy(
    stub: Any, gateway: Any
) -> None:
    key, _ = gateway.directory.create_key("trav-mythos", zdr=True)
    before = stub.stub.stats.requests
    recorded = len(gateway.sink.metadata)
    answer = raw_request(gateway.port, "POST", b"/v1/sessions/../messages",
                         [("x-api-key", key), ("content-type", "application/json")],
                         orjson.dumps(MYTHOS))
    assert_refused_path(answer)
    assert stub.stub.stats.requests == before
    assert all(meta.decision.surface != "claude_code_api"
               for meta in gateway.sink.metadata[recorded:])
