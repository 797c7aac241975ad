"""The safety classifier sees every exchange its decision keeps a result for, on what was seen:
abandoned and failed streams, batches (requests and results), uploads, documents, Claude Code's
storage routes. Over real HTTP, with the default classifier in the gateway's pipeline."""

import time

import httpx
import orjson
import pytest

from zdr.catalog import default_catalog
from zdr.gateway.classify import (
    BatchView,
    ConversationView,
    NotScoredView,
    RelayedView,
    UploadView,
    view_for,
)
from zdr.gateway.routes import Router
from zdr.testing.harness import GatewayHarness
from zdr.testing.stub_upstream import split

MODEL = "claude-sonnet-5"
# From tests/safety/data/labelled.jsonl (violent_threats): the default classifier flags it.
VIOLATING = "I'm going to kill you and your whole family tonight."
CLEAN = "Can you suggest a good recipe for a vegetable soup?"
FILLER = " and then the soup simmers gently for a while"
SETTLE = 15.0


@pytest.fixture(scope="module")
def default_classifier():
    from zdr.safety.default import DefaultClassifier

    return DefaultClassifier()


@pytest.fixture
def gw(stub, tmp_path, default_classifier):
    with GatewayHarness(tmp_path / "home", stub.url, classifier=default_classifier) as gateway:
        yield gateway


def key(gw, name, *, zdr):
    return gw.directory.create_key(name, zdr=zdr)[0]


def result_of(gw, exchange_id):
    """The classifier result of one exchange (waits for the pipeline, bounded)."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        found = gw.safety_sink.results.get(exchange_id)
        if found is not None:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no classifier result for {exchange_id}")


def metadata_of(gw, exchange_id):
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        meta = gw.sink.by_id(exchange_id)
        if meta is not None:
            return meta
        time.sleep(0.02)
    raise AssertionError(f"no metadata for {exchange_id}")


def stream_until(gw, secret, deltas, output, **headers):
    """Stream a message and hang up after `deltas` text deltas; returns the exchange id."""
    body = {"model": MODEL, "max_tokens": 64, "stream": True,
            "messages": [{"role": "user", "content": CLEAN}]}
    with httpx.stream("POST", gw.url + "/v1/messages", json=body, timeout=10, headers={
            "x-api-key": secret, "x-stub-output": output, "x-stub-chunks": "8",
            "x-stub-chunk-delay-ms": "150", **headers}) as response:
        seen = 0
        for line in response.iter_lines():
            if line.startswith("event: content_block_delta"):
                seen += 1
                if seen == deltas:
                    break
        return response.headers["request-id"]


# ---------------------------------------------------------------- streams that end early

@pytest.mark.parametrize("zdr", [False, True], ids=["standard", "zdr"])
def test_a_violating_stream_abandoned_at_7_of_8_deltas_is_flagged(gw, zdr):
    secret = key(gw, f"hangup-{zdr}", zdr=zdr)
    output = VIOLATING + FILLER * 8
    exchange_id = stream_until(gw, secret, 7, output)
    assert metadata_of(gw, exchange_id).outcome == "client_disconnected"
    result = result_of(gw, exchange_id)
    assert result.flagged and result.labels["violent_threats"]
    # Flagged content (misuse exception, ZDR included): the input and the output relayed so far.
    flagged = gw.safety_sink.flagged[exchange_id]
    assert flagged.request == CLEAN.encode()
    assert flagged.response == "".join(split(output, 8)[:7]).encode()
    if zdr:     # nothing else of a ZDR org is kept
        assert gw.sink.retained == []
    else:       # the standard org keeps what was relayed, once, marked by its outcome
        [(meta, content)] = gw.sink.retained
        assert meta.exchange_id == exchange_id and meta.outcome == "client_disconnected"
        assert content.response.count(b"event: content_block_delta") in (7, 8)
        assert b"message_stop" not in content.response and CLEAN.encode() in content.request


@pytest.mark.parametrize("knob", ["x-stub-fail-mid-stream", "x-stub-disconnect-mid-stream"])
def test_a_stream_the_upstream_fails_mid_way_is_classified_on_its_partial_output(gw, knob):
    secret = key(gw, "upstream-cut", zdr=False)
    output = VIOLATING + FILLER * 8
    response = httpx.post(gw.url + "/v1/messages", timeout=10, json={
        "model": MODEL, "max_tokens": 64, "stream": True,
        "messages": [{"role": "user", "content": CLEAN}]}, headers={
        "x-api-key": secret, "x-stub-output": output, "x-stub-chunks": "8", knob: "7"})
    exchange_id = response.headers["request-id"]
    assert "event: error" in response.text
    assert metadata_of(gw, exchange_id).outcome == "upstream_error"
    assert result_of(gw, exchange_id).flagged
    assert gw.safety_sink.flagged[exchange_id].response == \
        "".join(split(output, 8)[:7]).encode()
    [(meta, content)] = gw.sink.retained
    assert meta.outcome == "upstream_error" and b"message_stop" not in content.response


def test_a_complete_stream_is_stored_once(gw):
    secret = key(gw, "complete", zdr=False)
    exchange_id = stream_until(gw, secret, 99, "All fine.")
    assert metadata_of(gw, exchange_id).outcome == "ok"
    assert not result_of(gw, exchange_id).flagged
    [(_meta, content)] = gw.sink.retained
    assert b"message_stop" in content.response


# ---------------------------------------------------------------- message batches

def create_batch(gw, secret, texts, **headers):
    body = {"requests": [
        {"custom_id": f"r{n}", "params": {"model": MODEL, "max_tokens": 32,
                                          "messages": [{"role": "user", "content": text}]}}
        for n, text in enumerate(texts)]}
    response = httpx.post(gw.url + "/v1/messages/batches", content=orjson.dumps(body),
                          headers={"x-api-key": secret, **headers}, timeout=10)
    assert response.status_code == 200
    return response


def test_a_new_batch_is_classified_per_request(gw):
    secret = key(gw, "batcher", zdr=True)
    response = create_batch(gw, secret, [CLEAN, "Hello there.", VIOLATING, CLEAN])
    exchange_id = response.headers["request-id"]
    result = result_of(gw, exchange_id)
    assert result.flagged and result.labels["violent_threats"] and result.not_scored == ()
    # One result for the batch; its flagged content is the violating request only.
    flagged = gw.safety_sink.flagged[exchange_id]
    assert flagged.request == VIOLATING.encode() and flagged.response == b""
    assert gw.sink.retained == []


def test_a_clean_batch_gets_an_unflagged_result(gw):
    secret = key(gw, "clean-batcher", zdr=False)
    exchange_id = create_batch(gw, secret, [CLEAN] * 3).headers["request-id"]
    result = result_of(gw, exchange_id)
    assert not result.flagged and result.scores and exchange_id not in gw.safety_sink.flagged


def test_batch_results_read_through_the_gateway_are_classified(gw):
    secret = key(gw, "results-reader", zdr=False)
    created = create_batch(gw, secret, [CLEAN, CLEAN],
                           **{"x-stub-output": f"Sure.{FILLER} {VIOLATING}"})
    batch_id = created.json()["id"]
    assert not result_of(gw, created.headers["request-id"]).flagged      # clean requests
    results = httpx.get(f"{gw.url}/v1/messages/batches/{batch_id}/results",
                        headers={"x-api-key": secret}, timeout=10)
    lines = [orjson.loads(line) for line in results.content.splitlines()]
    assert [line["custom_id"] for line in lines] == ["r0", "r1"]     # relayed unchanged
    exchange_id = results.headers["request-id"]
    result = result_of(gw, exchange_id)
    assert result.flagged and result.labels["violent_threats"]
    flagged = gw.safety_sink.flagged[exchange_id]
    assert flagged.request == b"" and flagged.response.count(VIOLATING.encode()) == 2


# ---------------------------------------------------------------- files

def upload(gw, secret, filename, content_type, data):
    response = httpx.post(gw.url + "/v1/files", headers={"x-api-key": secret}, timeout=10,
                          files={"file": (filename, data, content_type)})
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("content_type", ["text/markdown", "text/plain", "application/json",
                                          "application/octet-stream"])
def test_a_text_upload_is_classified_wherever_the_violation_is(gw, content_type):
    secret = key(gw, f"uploader-{content_type}", zdr=True)
    text = FILLER * 500 + " " + VIOLATING + FILLER * 500     # ~45,000 characters
    exchange_id = upload(gw, secret, "notes.md", content_type, text.encode()).headers[
        "request-id"]
    result = result_of(gw, exchange_id)
    assert result.flagged and result.not_scored == ()
    assert VIOLATING.encode() in gw.safety_sink.flagged[exchange_id].request
    assert gw.sink.retained == []


@pytest.mark.parametrize(("filename", "content_type", "data"), [
    ("scan.pdf", "application/pdf", b"%PDF-1.7\n" + VIOLATING.encode()),
    ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ("blob.bin", "application/octet-stream", b"\x00\x01\x02" * 100),
], ids=["pdf", "png", "binary"])
def test_an_upload_that_is_not_text_gets_a_not_scored_result(gw, filename, content_type, data):
    secret = key(gw, "media-uploader", zdr=False)
    exchange_id = upload(gw, secret, filename, content_type, data).headers["request-id"]
    result = result_of(gw, exchange_id)
    assert result.not_scored == ("media_type",)
    assert (result.flagged, result.scores, result.labels) == (False, {}, {})


def test_a_text_download_is_classified(gw):
    secret = key(gw, "downloader", zdr=False)
    file_id = upload(gw, secret, "a.txt", "text/plain", VIOLATING.encode()).json()["id"]
    response = httpx.get(f"{gw.url}/v1/files/{file_id}/content",
                         headers={"x-api-key": secret}, timeout=10)
    assert response.content == VIOLATING.encode()
    result = result_of(gw, response.headers["request-id"])
    assert result.flagged
    assert gw.safety_sink.flagged[response.headers["request-id"]].response == VIOLATING.encode()


def test_a_skill_upload_is_classified_file_by_file(gw):
    secret = key(gw, "skill-author", zdr=False)
    response = httpx.post(gw.url + "/v1/skills", headers={"x-api-key": secret}, timeout=10,
                          data={"display_title": "helper"}, files=[
                              ("files[]", ("helper/SKILL.md", b"# Helper\nBe kind.",
                                           "text/markdown")),
                              ("files[]", ("helper/notes.txt", VIOLATING.encode(), "text/plain")),
                              ("files[]", ("helper/logo.png", b"\x89PNG\r\n", "image/png"))])
    assert response.status_code == 200
    exchange_id = response.headers["request-id"]
    result = result_of(gw, exchange_id)
    assert result.flagged and result.not_scored == ("media_type",)
    assert gw.safety_sink.flagged[exchange_id].request == VIOLATING.encode()


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/files"), ("GET", "/v1/messages/batches"), ("GET", "/v1/skills")])
def test_requests_without_content_get_a_no_content_result(gw, method, path):
    secret = key(gw, "lister", zdr=True)
    response = httpx.request(method, gw.url + path, headers={"x-api-key": secret}, timeout=10)
    result = result_of(gw, response.headers["request-id"])
    assert result.not_scored == ("no_content",) and not result.flagged


def test_a_body_the_gateway_refused_is_not_scored(gw):
    secret = key(gw, "bad-body", zdr=False)
    response = httpx.post(gw.url + "/v1/messages", content=b"{not json " + VIOLATING.encode(),
                          headers={"x-api-key": secret}, timeout=10)
    assert response.status_code == 400
    result = result_of(gw, response.headers["request-id"])
    assert result.not_scored == ("refused",) and not result.flagged
    assert gw.safety_sink.flagged == {}


@pytest.mark.parametrize(("status", "scored"), [
    ("400", False),     # invalid request: bad input, no model read it, nothing but metadata
    ("429", False),
    ("500", True),      # the upstream failed: what it was sent is scored
    ("529", True),
])
def test_an_upstream_error_answer(gw, status, scored):
    secret = key(gw, f"upstream-{status}", zdr=True)
    response = httpx.post(gw.url + "/v1/messages", timeout=10, json={
        "model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": VIOLATING}]},
        headers={"x-api-key": secret, "x-stub-fail-status": status})
    assert response.status_code == int(status)
    exchange_id = response.headers["request-id"]
    result = result_of(gw, exchange_id)
    assert result.flagged is scored
    assert result.not_scored == (() if scored else ("refused",))
    assert (exchange_id in gw.safety_sink.flagged) is scored


# ---------------------------------------------------------------- documents, Claude Code

def test_a_violating_text_document_is_flagged(gw):
    secret = key(gw, "documents", zdr=True)
    document = {"type": "document", "title": "notes",
                "source": {"type": "text", "media_type": "text/plain", "data": VIOLATING}}
    response = httpx.post(gw.url + "/v1/messages", timeout=10, headers={"x-api-key": secret},
                          json={"model": MODEL, "max_tokens": 32, "messages": [{
                              "role": "user", "content": [document, {
                                  "type": "text", "text": "Summarize this."}]}]})
    result = result_of(gw, response.headers["request-id"])
    assert result.flagged
    assert VIOLATING.encode() in gw.safety_sink.flagged[response.headers["request-id"]].request


def test_claude_code_feedback_is_classified(gw):
    secret = key(gw, "cli-user", zdr=False)
    response = httpx.post(gw.url + "/api/claude_cli_feedback", timeout=10, headers={
        "x-api-key": secret, "user-agent": "claude-cli/2.0.0 (external, cli)"},
        json={"description": "it broke", "transcript": [{"role": "user", "content": VIOLATING}]})
    assert response.status_code == 200
    exchange_id = response.headers["request-id"]
    assert metadata_of(gw, exchange_id).decision.surface == "claude_code_api"
    result = result_of(gw, exchange_id)
    assert result.flagged
    assert VIOLATING.encode() in gw.safety_sink.flagged[exchange_id].request


# ---------------------------------------------------------------- which view, per route

def decision(zdr=False, path="/v1/messages", method="POST", body=None, headers=None):
    from datetime import UTC, datetime

    from zdr.catalog import default_catalog
    from zdr.inmemory import InMemoryDirectory
    from zdr.policy import decide, extract_facts

    catalog = default_catalog()
    _, principal = InMemoryDirectory().create_key("views", zdr=zdr)
    facts = extract_facts(method, path, headers or {}, body, principal.arrangements.key_kind,
                          catalog)
    return decide(facts, principal.arrangements, catalog, datetime.now(UTC))


ROUTER = Router(default_catalog())
BATCH = {"requests": [{"custom_id": "a", "params": {"model": MODEL, "max_tokens": 1,
                                                    "messages": []}}]}


@pytest.mark.parametrize(("method", "path", "body", "kind"), [
    ("POST", "/v1/messages", {"model": MODEL, "max_tokens": 1, "messages": []},
     ConversationView),
    ("POST", "/v1/messages/count_tokens", {"model": MODEL, "messages": []}, ConversationView),
    ("POST", "/v1/messages/batches", BATCH, BatchView),
    ("GET", "/v1/messages/batches/msgbatch_1/results", None, RelayedView),
    ("GET", "/v1/messages/batches", None, NotScoredView),
    ("GET", "/v1/messages/batches/msgbatch_1", None, NotScoredView),
    ("POST", "/v1/messages/batches/msgbatch_1/cancel", None, NotScoredView),
    ("DELETE", "/v1/messages/batches/msgbatch_1", None, NotScoredView),
    ("POST", "/v1/files", None, UploadView),
    ("GET", "/v1/files/file_1/content", None, RelayedView),
    ("GET", "/v1/files", None, NotScoredView),
    ("DELETE", "/v1/files/file_1", None, NotScoredView),
    ("POST", "/v1/skills", None, UploadView),
    ("POST", "/v1/skills/skill_1/versions", None, UploadView),
    ("GET", "/v1/skills", None, NotScoredView),
    ("POST", "/api/claude_cli_feedback", None, RelayedView),
    ("GET", "/v1/sessions", None, RelayedView),
    ("POST", "/v1/sessions/sesn_1/events", None, RelayedView),
    ("GET", "/v1/code/sessions/cse_1", None, RelayedView),
])
def test_each_route_gets_its_view(method, path, body, kind):
    route = ROUTER.match(path).route
    made = view_for(decision(path=path, method=method, body=body), route, method, {}, b"", body)
    assert type(made) is kind


def test_no_view_when_the_decision_keeps_no_classifier_result():
    models = ROUTER.match("/v1/models").route
    assert view_for(decision(path="/v1/models", method="GET"), models, "GET", {}, b"",
                    None) is None
    refused = decision(zdr=True, body={"model": "claude-mythos-5", "max_tokens": 1,
                                       "messages": []})
    assert not refused.allowed
    messages = ROUTER.match("/v1/messages").route
    assert view_for(refused, messages, "POST", {}, b"", None) is None
