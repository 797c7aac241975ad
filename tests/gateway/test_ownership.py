"""Files and message batches belong to the org that created them (zdr.gateway.ownership).

The gateway relays every org's files and batches under its one provider key, so the stand-in
upstream (like the provider) cannot tell orgs apart: each test below would pass org A's data to
org B if the gateway did not record and check who created each id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from store_seeder import Seeder
from zdr.store import tables
from zdr.testing.harness import GatewayHarness

BATCH = {"requests": [{"custom_id": "a", "params": {
    "model": "claude-haiku-4-5", "max_tokens": 8,
    "messages": [{"role": "user", "content": "hi"}]}}]}


def create(gw: Any, key: str, kind: str) -> str:
    if kind == "file":
        answer = httpx.post(gw.url + "/v1/files", headers={"x-api-key": key},
                            files={"file": ("notes.txt", b"org data")})
    else:
        answer = httpx.post(gw.url + "/v1/messages/batches", headers={"x-api-key": key},
                            content=orjson.dumps(BATCH))
    assert answer.status_code == 200, answer.text
    resource_id: str = answer.json()["id"]
    return resource_id


def root(kind: str) -> str:
    return "/v1/files" if kind == "file" else "/v1/messages/batches"


def call(gw: Any, key: str, method: str, path: str) -> httpx.Response:
    return httpx.request(method, gw.url + path, headers={"x-api-key": key})


def assert_not_found(answer: httpx.Response) -> None:
    assert answer.status_code == 404, answer.text
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert body["request_id"] == answer.headers["request-id"]


# Every way to name one id: (kind, method, suffix after the id)
BY_ID = [
    ("file", "GET", ""),                 # metadata
    ("file", "GET", "/content"),         # the bytes
    ("file", "DELETE", ""),
    ("batch", "GET", ""),
    ("batch", "GET", "/results"),
    ("batch", "POST", "/cancel"),
    ("batch", "DELETE", ""),
]


@pytest.mark.parametrize(("kind", "method", "suffix"), BY_ID)
def test_another_org_cannot_reach_an_id_and_the_upstream_is_not_asked(
    stub: Any, gateway: Any, kind: str, method: str, suffix: str
) -> None:
    a_key, _ = gateway.directory.create_key("own-a")
    b_key, _ = gateway.directory.create_key("own-b")
    resource_id = create(gateway, a_key, kind)
    before = stub.stub.stats.requests
    assert_not_found(call(gateway, b_key, method, f"{root(kind)}/{resource_id}{suffix}"))
    assert stub.stub.stats.requests == before                 # refused before the upstream
    assert gateway.sink.metadata[-1].outcome == "not_found"
    assert resource_id in stub.stub.created[kind]             # B's DELETE deleted nothing
    answer = call(gateway, a_key, method, f"{root(kind)}/{resource_id}{suffix}")
    assert answer.status_code == 200, answer.text             # the owner gets through
    assert stub.stub.stats.requests == before + 1


@pytest.mark.parametrize("kind", ["file", "batch"])
def test_unknown_and_malformed_ids_are_not_found_without_contacting_upstream(
    stub: Any, gateway: Any, kind: str
) -> None:
    key, _ = gateway.directory.create_key("own-unknown")
    before = stub.stub.stats.requests
    for path in (f"{root(kind)}/{kind}_never_created", f"{root(kind)}/{kind}_x/unknown_action"):
        assert_not_found(call(gateway, key, "GET", path))
    for path in (f"{root(kind)}//x", f"{root(kind)}/%2e%2e/x"):    # not a canonical path
        answer = call(gateway, key, "GET", path)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["type"] == "invalid_request_error"
    assert stub.stub.stats.requests == before


@pytest.mark.parametrize("kind", ["file", "batch"])
def test_lists_show_only_the_callers_ids(gateway: Any, kind: str) -> None:
    a_key, _ = gateway.directory.create_key("list-a")
    b_key, _ = gateway.directory.create_key("list-b")
    a_ids = {create(gateway, a_key, kind) for _ in range(2)}
    b_ids = {create(gateway, b_key, kind) for _ in range(3)}
    assert len(a_ids | b_ids) == 5                            # the stand-in's ids are distinct
    for key, mine, theirs in ((a_key, a_ids, b_ids), (b_key, b_ids, a_ids)):
        page = call(gateway, key, "GET", root(kind)).json()
        listed = {item["id"] for item in page["data"]}
        assert mine <= listed and not listed & theirs
        assert page["first_id"] in mine and page["last_id"] in mine


def test_a_deleted_file_is_forgotten(gateway: Any) -> None:
    key, _ = gateway.directory.create_key("own-delete")
    file_id = create(gateway, key, "file")
    assert call(gateway, key, "DELETE", f"/v1/files/{file_id}").status_code == 200
    assert ("file", file_id) not in gateway.app.ownership.owners.resources
    assert_not_found(call(gateway, key, "GET", f"/v1/files/{file_id}"))


def test_ownership_carries_the_catalogs_artifact_period(gateway: Any) -> None:
    key, principal = gateway.directory.create_key("own-period")
    file_id = create(gateway, key, "file")
    batch_id = create(gateway, key, "batch")
    resources = gateway.app.ownership.owners.resources
    file, batch = resources[("file", file_id)], resources[("batch", batch_id)]
    assert file.org_id == batch.org_id == principal.org_id
    assert file.workspace_id == principal.workspace_id
    assert file.expires_at is None                            # files: until deleted
    assert batch.expires_at == batch.created_at + timedelta(days=29)
    assert batch.exchange_id == gateway.sink.metadata[-1].exchange_id


def test_an_expired_batch_is_not_found(gateway: Any) -> None:
    key, _ = gateway.directory.create_key("own-expired")
    batch_id = create(gateway, key, "batch")
    resources = gateway.app.ownership.owners.resources
    record = resources[("batch", batch_id)]
    from dataclasses import replace
    resources[("batch", batch_id)] = replace(
        record, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_not_found(call(gateway, key, "GET", f"/v1/messages/batches/{batch_id}"))


def test_a_create_that_cannot_be_recorded_hands_out_no_id(gateway: Any) -> None:
    key, _ = gateway.directory.create_key("own-outage")
    gateway.app.ownership.owners.fail_record = True
    answer = httpx.post(gateway.url + "/v1/files", headers={"x-api-key": key},
                        files={"file": ("notes.txt", b"org data")})
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "api_error" and "file_" not in answer.text
    assert gateway.sink.metadata[-1].outcome == "store_unavailable"


def test_upstream_errors_on_create_pass_through_unrecorded(gateway: Any) -> None:
    key, _ = gateway.directory.create_key("own-upstream-error")
    answer = httpx.post(gateway.url + "/v1/files", files={"file": ("n.txt", b"x")},
                        headers={"x-api-key": key, "x-stub-fail-status": "529"})
    assert answer.status_code == 529
    assert answer.json()["error"]["type"] == "overloaded_error"
    assert gateway.app.ownership.owners.resources == {}


# ----------------------------------------------------------------------- on the SQL store
def test_ownership_is_kept_in_the_sql_store_as_zdr_serve_runs_it(stub: Any,
                                                                 tmp_path: Path) -> None:
    home = tmp_path / "home"
    seeder = Seeder(home)
    engine = seeder.engine
    (a_key, _), (b_key, _) = seeder.org("sql-a"), seeder.org("sql-b")
    try:
        with GatewayHarness(home, stub.url, use_store=True) as gw:
            file_id = create(gw, a_key, "file")
            batch_id = create(gw, a_key, "batch")
            assert_not_found(call(gw, b_key, "GET", f"/v1/files/{file_id}"))
            assert_not_found(call(gw, b_key, "POST", f"/v1/messages/batches/{batch_id}/cancel"))
            assert file_id not in {i["id"] for i in call(gw, b_key, "GET", "/v1/files")
                                   .json()["data"]}
            assert call(gw, a_key, "GET", f"/v1/files/{file_id}").status_code == 200
            assert call(gw, a_key, "DELETE", f"/v1/files/{file_id}").status_code == 200
        with engine.connect() as conn:
            rows = conn.execute(select(tables.upstream_resources.c.kind,
                                       tables.upstream_resources.c.resource_id,
                                       tables.upstream_resources.c.expires_at)).all()
        assert [(r.kind, r.resource_id) for r in rows] == [("batch", batch_id)]
        assert rows[0].expires_at is not None
    finally:
        engine.dispose()


# ------------------------------------------------- files referenced inside a request body
def document_message(file_id: str) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": file_id}},
        {"type": "text", "text": "summarise"}]}]}


def upload_message(file_id: str) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "container_upload", "file_id": file_id}]}]}


@pytest.mark.parametrize(("path", "wrap"), [
    ("/v1/messages", document_message),                       # a document source
    ("/v1/messages", upload_message),                         # code execution's upload
    ("/v1/messages/count_tokens", document_message),
    ("/v1/messages/batches", lambda f: {"requests": [{"custom_id": "x",
                                                       "params": document_message(f)}]}),
])
def test_a_request_cannot_reference_another_orgs_file(
    stub: Any, gateway: Any, path: str, wrap: Any
) -> None:
    a_key, _ = gateway.directory.create_key("ref-a")
    b_key, _ = gateway.directory.create_key("ref-b")
    file_id = create(gateway, a_key, "file")
    before = stub.stub.stats.requests
    for key in (b_key, a_key):    # B: A's file; A: a file that was never created
        for ref in ((file_id,) if key == b_key else ("file_never_created",)):
            answer = httpx.post(gateway.url + path, headers={"x-api-key": key},
                                content=orjson.dumps(wrap(ref)))
            assert_not_found(answer)
    assert stub.stub.stats.requests == before                 # the upstream never saw them
    answer = httpx.post(gateway.url + path, headers={"x-api-key": a_key},
                        content=orjson.dumps(wrap(file_id)))
    assert answer.status_code == 200, answer.text             # the owner may use its file


@pytest.mark.parametrize("query", [
    "after_id={theirs}", "before_id={theirs}", "after_id={mine}&after_id={theirs}",
    "limit=1&before%5Fid={theirs}", "after_id={mine}&before_id={theirs}",
])
def test_a_list_cannot_page_from_another_orgs_id(stub: Any, gateway: Any, query: str) -> None:
    """A cursor naming org A's file would page org B's list around it (where it stands among
    B's files, and so when A made it): a 404, nothing relayed; B's own cursors page as usual."""
    a_key = gateway.directory.create_key("cursor-a")[0]
    b_key = gateway.directory.create_key("cursor-b")[0]

    def upload(key: str) -> str:
        return str(httpx.post(gateway.url + "/v1/files", headers={"x-api-key": key}, timeout=10,
                              files={"file": ("notes.txt", b"org data")}).json()["id"])

    theirs, mine = upload(a_key), upload(b_key)
    before = stub.stub.stats.requests
    answer = httpx.get(gateway.url + "/v1/files?" + query.format(theirs=theirs, mine=mine),
                       headers={"x-api-key": b_key}, timeout=10)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["type"] == "not_found_error"
    assert stub.stub.stats.requests == before
    own = httpx.get(gateway.url + f"/v1/files?after_id={mine}", headers={"x-api-key": b_key},
                    timeout=10)
    assert own.status_code == 200
