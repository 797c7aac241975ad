"""Sessions, skills and containers belong to the org that created them (zdr.gateway.ownership).

Two orgs against the stand-in upstream, which (like the provider behind the gateway's one key)
serves any id to anyone: each test below would hand org A's session, skill or container to org B
if the gateway did not record and check who created each id. A foreign id is a 404 in the API's
format, and the stand-in is not asked at all.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from zdr.testing.rawhttp import raw_request

CODE_TOOL = {"type": "code_execution_20250825", "name": "code_execution"}


def api(gw: Any, key: str, method: str, path: str, body: Any = None,
        **headers: str) -> httpx.Response:
    return httpx.request(method, gw.url + path, headers={"x-api-key": key, **headers},
                         content=orjson.dumps(body) if body is not None else None, timeout=10)


def assert_not_found(answer: httpx.Response) -> None:
    assert answer.status_code == 404, answer.text
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"


def message(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": "run it"}], **extra}


def two_orgs(gw: Any, name: str) -> tuple[str, str]:
    return gw.directory.create_key(f"{name}-a")[0], gw.directory.create_key(f"{name}-b")[0]


# ------------------------------------------------------------------ sessions
SESSIONS = [
    # (root, prefix of its ids, where a create answer carries the id, what may follow an id)
    ("/v1/sessions", "sesn_", lambda v: v["id"],
     [("GET", ""), ("POST", ""), ("POST", "/events"), ("GET", "/events"),
      ("GET", "/events/stream"), ("POST", "/archive"), ("DELETE", "")]),
    ("/v1/code/sessions", "cse_", lambda v: v["session"]["id"],
     [("GET", ""), ("POST", ""), ("POST", "/events"), ("GET", "/events"), ("DELETE", "")]),
]


@pytest.mark.parametrize(("root", "prefix", "id_of", "actions"), SESSIONS,
                         ids=[s[0] for s in SESSIONS])
def test_a_session_is_reachable_only_by_the_org_that_created_it(
    stub: Any, gateway: Any, root: str, prefix: str, id_of: Any, actions: list[Any]
) -> None:
    a_key, b_key = two_orgs(gateway, "sess" + prefix)
    created = api(gateway, a_key, "POST", root, {"environment_id": "env_1"})
    assert created.status_code == 200, created.text
    session_id = id_of(created.json())
    assert session_id.startswith(prefix)
    b_own = id_of(api(gateway, b_key, "POST", root, {}).json())
    before = stub.stub.stats.requests
    for method, suffix in actions:
        body = {"events": [{"type": "user.message"}]} if suffix == "/events" else None
        assert_not_found(api(gateway, b_key, method, f"{root}/{session_id}{suffix}", body))
    assert stub.stub.stats.requests == before                         # never relayed
    assert session_id in stub.stub.resources.sessions                # B's DELETE deleted nothing
    for key, mine, theirs in ((a_key, session_id, b_own), (b_key, b_own, session_id)):
        listed = {s["id"] for s in api(gateway, key, "GET", root).json()["data"]}
        assert mine in listed and theirs not in listed
    for method, suffix in actions:                                    # the owner gets through
        body = {"events": [{"type": "user.message"}]} if suffix == "/events" else None
        answer = api(gateway, a_key, method, f"{root}/{session_id}{suffix}", body)
        assert answer.status_code == 200, (method, suffix, answer.text)
    assert ("session" if prefix == "sesn_" else "cc_session", session_id) \
        not in gateway.app.ownership.owners.resources                 # deleted: forgotten
    assert_not_found(api(gateway, a_key, "GET", f"{root}/{session_id}"))


def test_claude_code_sessions_of_a_zdr_enterprise_seat_are_refused_before_ownership(
    stub: Any, gateway: Any
) -> None:
    key, _ = gateway.directory.create_key("sess-zdr-seat", zdr=True, key_kind="enterprise_seat",
                                          plan="enterprise")
    before = stub.stub.stats.requests
    for method, path in (("POST", "/v1/sessions"), ("GET", "/v1/sessions/sesn_x"),
                         ("POST", "/v1/code/sessions")):
        answer = api(gateway, key, method, path, {} if method == "POST" else None)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["type"] == "permission_error"
    assert stub.stub.stats.requests == before


# ------------------------------------------------------------------ skills
def create_skill(gw: Any, key: str) -> str:
    answer = httpx.post(gw.url + "/v1/skills", headers={"x-api-key": key},
                        data={"display_title": "Org skill"},
                        files=[("files[]", ("skill/SKILL.md", b"---\nname: s\n---\n"))])
    assert answer.status_code == 200, answer.text
    skill_id: str = answer.json()["id"]
    assert skill_id.startswith("skill_")
    return skill_id


def test_a_custom_skill_is_reachable_and_usable_only_by_the_org_that_created_it(
    stub: Any, gateway: Any
) -> None:
    a_key, b_key = two_orgs(gateway, "skill")
    skill_id, b_own = create_skill(gateway, a_key), create_skill(gateway, b_key)
    version = stub.stub.resources.skills[skill_id]["latest_version"]
    before = stub.stub.stats.requests
    for method, suffix in (("GET", ""), ("GET", "/versions"), ("POST", "/versions"),
                           ("GET", f"/versions/{version}"), ("DELETE", f"/versions/{version}"),
                           ("DELETE", "")):
        assert_not_found(api(gateway, b_key, method, f"/v1/skills/{skill_id}{suffix}"))
    uses = [message(tools=[CODE_TOOL], container={"skills": [
                {"type": "custom", "skill_id": skill_id, "version": "latest"}]}),
            message(tools=[CODE_TOOL], container={"skills": [   # an unknown type counts as custom
                {"type": "other", "skill_id": skill_id}]})]
    for body in uses:
        assert_not_found(api(gateway, b_key, "POST", "/v1/messages", body))
        assert_not_found(api(gateway, b_key, "POST", "/v1/messages/batches", {
            "requests": [{"custom_id": "x", "params": body}]}))
    assert stub.stub.stats.requests == before                        # never relayed
    for key, mine, theirs in ((a_key, skill_id, b_own), (b_key, b_own, skill_id)):
        listed = {s["id"] for s in api(gateway, key, "GET", "/v1/skills").json()["data"]}
        assert mine in listed and theirs not in listed
    public = message(tools=[CODE_TOOL], container={"skills": [
        {"type": "anthropic", "skill_id": "pptx", "version": "latest"}]})
    assert api(gateway, b_key, "POST", "/v1/messages", public).status_code == 200
    assert api(gateway, a_key, "POST", "/v1/messages", uses[0]).status_code == 200
    owners = gateway.app.ownership.owners.resources
    assert api(gateway, a_key, "DELETE",
               f"/v1/skills/{skill_id}/versions/{version}").status_code == 200
    assert ("skill", skill_id) in owners                 # a version's delete keeps the skill
    assert api(gateway, a_key, "DELETE", f"/v1/skills/{skill_id}").status_code == 200
    assert ("skill", skill_id) not in owners


# ------------------------------------------------------------------ containers
def run_code(gw: Any, key: str, **extra: Any) -> str:
    answer = api(gw, key, "POST", "/v1/messages", message(tools=[CODE_TOOL], **extra))
    assert answer.status_code == 200, answer.text
    container_id: str = answer.json()["container"]["id"]
    assert container_id.startswith("container_")
    return container_id


def test_a_container_is_usable_only_by_the_org_whose_request_created_it(
    stub: Any, gateway: Any
) -> None:
    a_key, b_key = two_orgs(gateway, "container")
    container_id = run_code(gateway, a_key)
    owner = gateway.app.ownership.owners.resources[("container", container_id)]
    assert owner.org_id == gateway.directory.create_key("container-a")[1].org_id
    assert owner.expires_at is not None and (owner.expires_at - owner.created_at).days == 30
    before = stub.stub.stats.requests
    for named in (container_id, {"id": container_id}):
        assert_not_found(api(gateway, b_key, "POST", "/v1/messages",
                             message(tools=[CODE_TOOL], container=named)))
        assert_not_found(api(gateway, b_key, "POST", "/v1/messages/count_tokens",
                             message(container=named)))
        assert_not_found(api(gateway, b_key, "POST", "/v1/messages/batches", {
            "requests": [{"custom_id": "x", "params": message(container=named)}]}))
    for named in ("container_never_created", 12, {"id": ["x"]}):   # unknown or not a string
        assert_not_found(api(gateway, a_key, "POST", "/v1/messages", message(container=named)))
    assert stub.stub.stats.requests == before                        # never relayed
    assert run_code(gateway, a_key, container=container_id) == container_id   # the owner reuses


def test_a_streamed_container_is_recorded_before_the_stream_ends(
    stub: Any, gateway: Any
) -> None:
    a_key, b_key = two_orgs(gateway, "container-stream")
    with httpx.stream("POST", gateway.url + "/v1/messages", headers={"x-api-key": a_key},
                      content=orjson.dumps(message(tools=[CODE_TOOL], stream=True))) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
        owners = gateway.app.ownership.owners.resources
        deltas = [orjson.loads(line[6:]) for line in lines]
        container_id = next(d["delta"]["container"]["id"] for d in deltas
                            if d.get("type") == "message_delta")
        assert ("container", container_id) in owners     # recorded before the last chunk
    assert run_code(gateway, a_key, container={"id": container_id}) == container_id
    assert_not_found(api(gateway, b_key, "POST", "/v1/messages",
                         message(tools=[CODE_TOOL], container=container_id)))


def test_a_container_that_cannot_be_recorded_is_nobodys(stub: Any, gateway: Any) -> None:
    key, _ = gateway.directory.create_key("container-outage")
    gateway.app.ownership.owners.fail_record = True
    try:
        container_id = run_code(gateway, key)            # the answer itself is not held back
    finally:
        gateway.app.ownership.owners.fail_record = False
    assert_not_found(api(gateway, key, "POST", "/v1/messages",
                         message(tools=[CODE_TOOL], container=container_id)))
    failures = gateway.logs.events("container_record_failed")
    assert failures and container_id not in gateway.logs.text()


def test_a_traversal_cannot_reach_another_orgs_session(stub: Any, gateway: Any) -> None:
    a_key, b_key = two_orgs(gateway, "sess-trav")
    theirs = api(gateway, a_key, "POST", "/v1/sessions", {}).json()["id"]
    mine = api(gateway, b_key, "POST", "/v1/sessions", {}).json()["id"]
    before = stub.stub.stats.requests
    for target in (f"/v1/sessions/{mine}/../{theirs}", f"/v1/sessions/{mine}%2F..%2F{theirs}",
                   f"/v1/sessions/{mine}/events/../../{theirs}"):
        answer = raw_request(gateway.port, "DELETE", target.encode(), [("x-api-key", b_key)])
        assert answer.status == 400 and theirs not in answer.body.decode()
    assert stub.stub.stats.requests == before
    assert theirs in stub.stub.resources.sessions


# ------------------------------------------------------------------ session bodies
SESSION_ROOTS = ["/v1/sessions", "/v1/code/sessions"]


@pytest.mark.parametrize("root", SESSION_ROOTS)
@pytest.mark.parametrize("body", [
    {"model": "claude-mythos-5", "environment_id": "env_1"},
    {"agent": {"type": "agent", "model": "claude-mythos-5"}, "environment_id": "env_1"},
    {"agent": {"model": {"id": "claude-mythos-5"}}, "model": "claude-haiku-4-5"},
], ids=["top-level", "inline agent", "object, behind a standard one"])
def test_a_covered_model_in_a_session_body_is_refused_from_a_zdr_scope(
        stub: Any, gateway: Any, root: str, body: dict[str, Any]) -> None:
    """The same 400 as on /v1/messages: the covered-model rule sees the session's model."""
    zdr_key = gateway.directory.create_key("sessions-zdr" + root, zdr=True)[0]
    before = stub.stub.stats.requests
    refused = api(gateway, zdr_key, "POST", root, body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["type"] == "invalid_request_error"
    on_messages = api(gateway, zdr_key, "POST", "/v1/messages", message(model="claude-mythos-5"))
    assert refused.json()["error"]["message"] == on_messages.json()["error"]["message"]
    assert stub.stub.stats.requests == before                         # never relayed
    standard = gateway.directory.create_key("sessions-standard" + root)[0]
    assert api(gateway, standard, "POST", root, body).status_code == 200


@pytest.mark.parametrize("root", SESSION_ROOTS)
def test_a_session_body_cannot_name_another_orgs_file(stub: Any, gateway: Any,
                                                      root: str) -> None:
    a_key, b_key = two_orgs(gateway, "sessfile" + root)
    a_file = httpx.post(gateway.url + "/v1/files", headers={"x-api-key": a_key}, timeout=10,
                        files={"file": ("notes.txt", b"org data")}).json()["id"]
    b_file = httpx.post(gateway.url + "/v1/files", headers={"x-api-key": b_key}, timeout=10,
                        files={"file": ("notes.txt", b"org data")}).json()["id"]

    def mounting(file_id: str) -> dict[str, Any]:
        return {"environment_id": "env_1",
                "resources": [{"type": "file", "file_id": file_id, "mount_path": "/x"}]}

    before = stub.stub.stats.requests
    assert_not_found(api(gateway, b_key, "POST", root, mounting(a_file)))
    assert stub.stub.stats.requests == before
    created = api(gateway, b_key, "POST", root, mounting(b_file))
    assert created.status_code == 200, created.text
    value = created.json()
    session_id = value["session"]["id"] if "session" in value else value["id"]
    events = {"events": [{"type": "user.message", "content": [
        {"type": "document", "source": {"type": "file", "file_id": a_file}}]}]}
    before = stub.stub.stats.requests
    assert_not_found(api(gateway, b_key, "POST", f"{root}/{session_id}/events", events))
    assert stub.stub.stats.requests == before
