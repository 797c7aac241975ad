"""The gateway over real HTTP (uvicorn + the stand-in upstream): routing, auth, bad input,
refusals, upstream failures, headers, and what gets recorded."""

import asyncio
import threading
import time

import httpx
import orjson
import pytest

from zdr.testing.harness import GatewayHarness
from zdr.testing.servers import StubThread, bound_socket

MSG = {"model": "claude-sonnet-5", "max_tokens": 32,
       "messages": [{"role": "user", "content": "hello"}]}


def post(gw, key, body=MSG, path="/v1/messages", **headers):
    return httpx.post(gw.url + path, content=orjson.dumps(body) if isinstance(body, dict) else body,
                      headers={"x-api-key": key, "content-type": "application/json", **headers},
                      timeout=10)


def assert_api_error(response, status, error_type):
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    assert response.headers["request-id"].startswith("req_")
    assert "zdr-retention" in response.headers


@pytest.mark.parametrize(("method", "path", "status", "error_type"), [
    ("GET", "/v1/unknown", 404, "not_found_error"),          # unknown route
    ("GET", "/", 404, "not_found_error"),
    ("GET", "/v1/messages", 405, "invalid_request_error"),   # known route, wrong method
    ("DELETE", "/v1/models", 405, "invalid_request_error"),
])
def test_unknown_routes_and_methods(gateway, method, path, status, error_type):
    assert_api_error(httpx.request(method, gateway.url + path), status, error_type)


@pytest.mark.parametrize("headers", [
    {},                                          # no key
    {"x-api-key": "sk-zdr-nope"},                # unknown key
    {"authorization": "Bearer sk-zdr-nope"},
    {"authorization": "Basic Zm9vOmJhcg=="},
], ids=["missing", "unknown", "bearer-unknown", "basic"])
def test_authentication_required(gateway, headers):
    response = httpx.post(gateway.url + "/v1/messages", json=MSG, headers=headers)
    assert_api_error(response, 401, "authentication_error")
    assert response.headers["zdr-retention"] == "none"


def test_bearer_key_is_accepted(gateway):
    secret, _ = gateway.directory.create_key("bearer-org")
    response = httpx.post(gateway.url + "/v1/messages", json=MSG,
                          headers={"authorization": f"Bearer {secret}"})
    assert response.status_code == 200


@pytest.mark.parametrize(("body", "status", "error_type"), [
    (b"{not json SECRETBODY", 400, "invalid_request_error"),       # malformed JSON
    (b'["SECRETBODY"]', 400, "invalid_request_error"),             # not an object
    (b'{"model": "\xff\xfeSECRETBODY"}', 400, "invalid_request_error"),  # bad UTF-8
    (b"", 400, "invalid_request_error"),                            # empty
    (b'{"model": "\\ud800SECRETBODY"}', 400, "invalid_request_error"),  # lone surrogate
    (b'{"SECRETBODY": 1, "SECRETBODY": 2}', 400, "invalid_request_error"),  # repeated key
    (b'{"model": "claude-sonnet-5", "max_tokens": 8, "messages": [], '
     b'"model": "SECRETBODY"}', 400, "invalid_request_error"),      # repeated model
], ids=["malformed", "array", "bad-utf8", "empty", "lone-surrogate", "repeated-key",
        "repeated-model"])
def test_bad_bodies_are_refused_without_quoting_them(gateway, body, status, error_type):
    secret, _ = gateway.directory.create_key("bad-body-org", zdr=True)
    response = post(gateway, secret, body)
    assert_api_error(response, status, error_type)
    assert b"SECRETBODY" not in response.content
    meta = gateway.sink.metadata[-1]
    assert (meta.outcome, meta.status_code) == ("bad_request", status)
    assert gateway.sink.retained == []


def test_body_size_limit(stub, tmp_path):
    with GatewayHarness(tmp_path / "home", stub.url, max_body_bytes=1000) as gw:
        secret, _ = gw.directory.create_key("big-org")
        upstream_before = stub.stub.stats.requests
        big = {**MSG, "messages": [{"role": "user", "content": "x" * 5000}]}
        assert_api_error(post(gw, secret, big), 413, "request_too_large")
        # Chunked upload without a content-length is cut off the same way.
        chunks = (orjson.dumps(big)[i:i + 100] for i in range(0, 6000, 100))
        response = httpx.post(gw.url + "/v1/messages", content=chunks,
                              headers={"x-api-key": secret})
        assert_api_error(response, 413, "request_too_large")
        assert stub.stub.stats.requests == upstream_before   # nothing of it went upstream
        assert [m.outcome for m in gw.sink.metadata] == ["bad_request", "bad_request"]


@pytest.mark.parametrize(("org", "body", "headers", "status", "error_type", "retention"), [
    # HIPAA org: web search is not covered by the BAA.
    ({"hipaa": True}, {**MSG, "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
     {}, 400, "invalid_request_error", "none"),
    # ZDR org: a covered model needs retention.
    ({"zdr": True}, {**MSG, "model": "claude-mythos-5"}, {}, 400, "invalid_request_error", "zero"),
    # ZDR org: browser access refused.
    ({"zdr": True}, MSG, {"origin": "https://app.example"}, 403, "permission_error", "zero"),
], ids=["hipaa-web-search", "covered-model", "browser"])
def test_policy_refusals_never_reach_upstream(stub, gateway, org, body, headers, status,
                                              error_type, retention):
    secret, _ = gateway.directory.create_key(f"refused-{len(gateway.sink.metadata)}", **org)
    before = stub.stub.stats.requests
    response = post(gateway, secret, body, **headers)
    assert_api_error(response, status, error_type)
    assert response.headers["zdr-retention"] == retention
    assert stub.stub.stats.requests == before
    meta = gateway.sink.metadata[-1]
    assert meta.outcome == "rejected" and meta.exchange_id == response.headers["request-id"]


def test_upstream_gets_the_gateway_credential_and_versions(stub, gateway):
    secret, _ = gateway.directory.create_key("cred-org")
    response = post(gateway, secret, **{"anthropic-version": "2023-06-01",
                                        "anthropic-beta": "x-2025", "cookie": "c=1"})
    assert response.status_code == 200
    seen = {k.lower(): v for k, v in stub.stub.stats.seen_headers[-1].items()}
    assert seen["x-api-key"] == "stand-in-upstream-key" != secret
    assert seen["anthropic-version"] == "2023-06-01" and seen["anthropic-beta"] == "x-2025"
    assert "cookie" not in seen and "authorization" not in seen


def test_a_cookie_the_upstream_sets_for_one_org_never_reaches_the_upstream_again(stub, tmp_path):
    # By host name, as the real API is reached: a cookie jar keeps no cookies of bare IPs.
    with GatewayHarness(tmp_path / "home", stub.url.replace("127.0.0.1", "localhost")) as gw:
        first, _ = gw.directory.create_key("cookie-org-a")
        second, _ = gw.directory.create_key("cookie-org-b", zdr=True)
        response = post(gw, first, **{"x-stub-set-cookie": "__cf_bm=org-a-session; Path=/"})
        assert response.status_code == 200 and "set-cookie" not in response.headers
        assert post(gw, second).status_code == 200
    seen = {k.lower(): v for k, v in stub.stub.stats.seen_headers[-1].items()}
    assert "cookie" not in seen


@pytest.mark.parametrize(("knobs", "status", "error_type", "outcome"), [
    ({"x-stub-fail-status": "529"}, 529, "overloaded_error", "upstream_error"),
    ({"x-stub-fail-status": "500"}, 500, "api_error", "upstream_error"),
    ({"x-stub-fail-status": "429"}, 429, "rate_limit_error", "upstream_error"),
    ({"x-stub-fail-status": "504"}, 504, "timeout_error", "timeout"),
])
def test_upstream_errors_pass_through(gateway, knobs, status, error_type, outcome):
    secret, _ = gateway.directory.create_key("err-org", zdr=True)
    response = post(gateway, secret, **knobs)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    assert response.headers["zdr-retention"] == "zero"
    assert gateway.sink.metadata[-1].outcome == outcome


def test_unreachable_upstream_is_502(tmp_path):
    sock = bound_socket()   # a port nobody accepts on once closed
    port = sock.getsockname()[1]
    sock.close()
    with GatewayHarness(tmp_path / "home", f"http://127.0.0.1:{port}") as gw:
        secret, _ = gw.directory.create_key("down-org")
        assert_api_error(post(gw, secret), 502, "api_error")
        assert gw.sink.metadata[-1].outcome == "upstream_error"


def test_upstream_timeout_is_504(stub, tmp_path):
    with GatewayHarness(tmp_path / "home", stub.url, upstream_timeout_seconds=0.2) as gw:
        secret, _ = gw.directory.create_key("slow-org")
        response = post(gw, secret, **{"x-stub-latency-ms": "1500"})
        assert_api_error(response, 504, "timeout_error")
        assert gw.sink.metadata[-1].outcome == "timeout"


def test_request_id_generated_when_upstream_gives_none(gateway):
    secret, _ = gateway.directory.create_key("rid-org")
    response = post(gateway, secret, **{"x-stub-no-request-id": "1"})
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    assert gateway.sink.metadata[-1].exchange_id == response.headers["request-id"]


def test_retention_header_and_recording_per_arrangement(gateway):
    zdr, _ = gateway.directory.create_key("zdr-org", zdr=True)
    std, _ = gateway.directory.create_key("std-org")
    assert post(gateway, zdr).headers["zdr-retention"] == "zero"
    assert post(gateway, std).headers["zdr-retention"] == "30d"
    assert [m.decision.retention_label for m in gateway.sink.metadata] == ["zero", "30d"]
    assert len(gateway.sink.retained) == 1   # only the standard org's content
    assert gateway.sink.retained[0][0].decision.retention_label == "30d"


def test_stream_is_durable_before_message_stop_reaches_the_client(stub, tmp_path):
    seen_stop = threading.Event()
    order = []

    class WatchingSink:
        def __init__(self):
            self.metadata, self.retained = [], []

        async def record_metadata(self, meta):
            self.metadata.append(meta)

        async def record_retained(self, meta, content, *, ongoing=False):
            import asyncio

            order.append(("retain-start", seen_stop.is_set()))
            await asyncio.sleep(0.3)
            order.append(("retain-done", seen_stop.is_set()))
            self.retained.append((meta, content))

    with GatewayHarness(tmp_path / "home", stub.url, sink=WatchingSink()) as gw:
        secret, _ = gw.directory.create_key("durable-org")
        with httpx.stream("POST", gw.url + "/v1/messages", json={**MSG, "stream": True},
                          headers={"x-api-key": secret}, timeout=10) as response:
            for line in response.iter_lines():
                if line.startswith("event: message_stop"):
                    seen_stop.set()
        assert order == [("retain-start", False), ("retain-done", False)]
        _meta, content = gw.sink.retained[0]
        assert b"message_stop" in content.response and b"hello" in content.request


def test_store_failure_on_retained_content_is_not_reported_as_complete(stub, tmp_path):
    from zdr.inmemory import InMemorySink

    with GatewayHarness(tmp_path / "home", stub.url, sink=InMemorySink(fail_retained=True)) as gw:
        secret, _ = gw.directory.create_key("store-down-org")
        response = post(gw, secret, {**MSG, "stream": True})
        assert "event: message_stop" not in response.text
        assert "event: error" in response.text
        response = post(gw, secret)
        assert_api_error(response, 503, "api_error")
        assert [m.outcome for m in gw.sink.metadata] == ["store_unavailable"] * 2


@pytest.mark.parametrize("zdr", [True, False], ids=["zdr", "standard"])
def test_each_event_reaches_the_client_as_the_upstream_sends_it(stub, gateway, zdr):
    # Whatever arrives together goes on together, but nothing waits for more: the first
    # events before the upstream's next, each delta as it comes, the stream whole at the end.
    secret, _ = gateway.directory.create_key(f"paced-org-{zdr}", zdr=zdr)
    arrivals: dict[str, list[float]] = {}
    with httpx.stream("POST", gateway.url + "/v1/messages", json={**MSG, "stream": True},
                      headers={"x-api-key": secret, "x-stub-chunks": "3",
                               "x-stub-chunk-delay-ms": "400"}, timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.setdefault(line[7:], []).append(time.monotonic())
    start, deltas = arrivals["message_start"][0], arrivals["content_block_delta"]
    assert len(deltas) == 3 and arrivals["message_stop"]
    assert deltas[0] - start > 0.25                      # not held for the first delta
    assert deltas[2] - deltas[0] > 0.5                   # nor the deltas for one another
    deadline = time.monotonic() + 5
    while not gateway.sink.metadata and time.monotonic() < deadline:
        time.sleep(0.05)
    meta = gateway.sink.metadata[-1]
    assert (meta.outcome, meta.stream) == ("ok", True) and meta.output_tokens


def test_client_disconnect_cancels_upstream_and_records_metadata(stub, gateway):
    secret, _ = gateway.directory.create_key("hangup-org", zdr=True)
    completed = stub.stub.stats.streams_completed
    with httpx.stream("POST", gateway.url + "/v1/messages", json={**MSG, "stream": True},
                      headers={"x-api-key": secret, "x-stub-chunks": "20",
                               "x-stub-chunk-delay-ms": "100"}, timeout=10) as response:
        for line in response.iter_lines():
            if "content_block_delta" in line:
                break
    deadline = time.monotonic() + 5
    while not gateway.sink.metadata and time.monotonic() < deadline:
        time.sleep(0.05)
    meta = gateway.sink.metadata[-1]
    assert meta.outcome == "client_disconnected" and meta.stream
    time.sleep(2.5)   # the stub would have finished by now had it not been cancelled
    assert stub.stub.stats.streams_completed == completed


def test_stream_ending_without_message_stop_gets_an_error_event(gateway):
    secret, _ = gateway.directory.create_key("cut-org", zdr=True)
    response = post(gateway, secret, {**MSG, "stream": True},
                    **{"x-stub-disconnect-mid-stream": "2", "x-stub-chunks": "5"})
    assert response.status_code == 200
    assert "event: error" in response.text and "message_stop" not in response.text
    assert gateway.sink.metadata[-1].outcome == "upstream_error"


def test_health_ready_and_metrics(gateway):
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gateway.url + "/readyz").status_code == 200
    secret, _ = gateway.directory.create_key("metrics-org", zdr=True)
    post(gateway, secret, {**MSG, "model": "claude-CANARYMODEL"})
    text = httpx.get(gateway.url + "/metrics").text
    assert 'zdr_gateway_requests_total{outcome="ok",retention="zero",status_class="2xx",' \
           'surface="messages"}' in text
    assert "CANARYMODEL" not in text


def test_safety_queue_gets_what_was_seen_whatever_the_outcome(gateway):
    # A completed exchange: input and output; an upstream failure: the input it was sent.
    secret, _ = gateway.directory.create_key("safety-org", zdr=True)
    post(gateway, secret, {**MSG, "messages": [{"role": "user", "content": "classify me"}]})
    _meta, input_text, output_text = gateway.safety.items[-1]
    assert input_text == "classify me" and "classify me" in output_text
    post(gateway, secret, {**MSG, "messages": [{"role": "user", "content": "failed one"}]},
         **{"x-stub-fail-status": "500"})
    meta, input_text, output_text = gateway.safety.items[-1]
    assert (meta.outcome, input_text, output_text) == ("upstream_error", "failed one", "")
    assert len(gateway.safety.items) == 2


def test_graceful_shutdown_finishes_in_flight_streams(tmp_path):
    with StubThread() as stub:
        gw = GatewayHarness(tmp_path / "home", stub.url)
        gw.server.start()
        secret, _ = gw.directory.create_key("shutdown-org")
        result = {}

        def client():
            response = httpx.post(gw.url + "/v1/messages", json={**MSG, "stream": True},
                                  headers={"x-api-key": secret, "x-stub-chunks": "8",
                                           "x-stub-chunk-delay-ms": "100"}, timeout=10)
            result["text"] = response.text

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(0.3)
        gw.close()          # asks uvicorn to exit while the stream is in flight
        thread.join(10)
        assert "event: message_stop" in result["text"]
        assert gw.sink.metadata[-1].outcome == "ok"


def test_beta_query_is_forwarded(stub, gateway):
    secret, _ = gateway.directory.create_key("beta-org")
    response = post(gateway, secret, path="/v1/messages?beta=true")
    assert response.status_code == 200
    assert stub.stub.stats.seen_paths[-1] == "/v1/messages?beta=true"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/messages/batches", {"requests": [{"custom_id": "a", "params": MSG}]}),
    ("GET", "/v1/messages/batches", None),
    ("GET", "/v1/files", None),
])
def test_batches_and_files_pass_through_as_partial_zdr(gateway, method, path, body):
    # Not ZDR-eligible: they run, the decision says `partial`, only metadata is recorded here.
    secret, _ = gateway.directory.create_key("batch-org", zdr=True)
    response = httpx.request(method, gateway.url + path, headers={"x-api-key": secret},
                             content=orjson.dumps(body) if body else None)
    assert response.status_code == 200
    assert response.headers["zdr-retention"] == "partial"
    meta = gateway.sink.metadata[-1]
    assert meta.decision.zdr == "partial" and meta.outcome == "ok"
    assert gateway.sink.retained == []


def test_claude_code_server_storage_refused_under_zdr(stub, gateway):
    # Rule 5: feedback submission would store data server-side.
    secret, _ = gateway.directory.create_key("cc-org", zdr=True, key_kind="enterprise_seat",
                                             plan="enterprise")
    before = stub.stub.stats.requests
    response = post(gateway, secret, {"feedback": "x"}, path="/api/claude_cli_feedback")
    assert_api_error(response, 403, "permission_error")
    assert stub.stub.stats.requests == before
    assert gateway.sink.metadata[-1].outcome == "rejected"


def test_client_gone_before_upstream_answers(stub, gateway):
    secret, _ = gateway.directory.create_key("early-hangup-org", zdr=True)
    with pytest.raises(httpx.ReadTimeout):
        post_with_timeout = httpx.Client(timeout=0.3)
        try:
            post_with_timeout.post(gateway.url + "/v1/messages", json=MSG,
                                   headers={"x-api-key": secret, "x-stub-latency-ms": "2000"})
        finally:
            post_with_timeout.close()
    deadline = time.monotonic() + 5
    while not gateway.sink.metadata and time.monotonic() < deadline:
        time.sleep(0.05)
    meta = gateway.sink.metadata[-1]
    assert (meta.outcome, meta.status_code) == ("client_disconnected", 499)
    assert meta.exchange_id.startswith("req_")


def test_many_keys_and_requests_interleaved(gateway):
    # A small concurrent burst: every answer carries its own org's retention.
    keys = {gateway.directory.create_key(f"burst-{n}", zdr=n % 2 == 0)[0]: n % 2 == 0
            for n in range(6)}

    async def burst():
        async with httpx.AsyncClient(timeout=10) as client:
            calls = [client.post(gateway.url + "/v1/messages", json=MSG,
                                 headers={"x-api-key": key}) for key in keys for _ in range(5)]
            return await asyncio.gather(*calls)

    responses = asyncio.run(burst())
    expected = [("zero" if zdr else "30d") for zdr in keys.values() for _ in range(5)]
    assert [r.headers["zdr-retention"] for r in responses] == expected


def test_unexpected_relay_failure_is_an_api_error_and_recorded(gateway):
    secret, _ = gateway.directory.create_key("broken-org", zdr=True)

    async def broken(*args, **kwargs):
        raise RuntimeError("SECRET-IN-EXCEPTION")

    gateway.app.relay.run = broken
    response = post(gateway, secret)
    assert_api_error(response, 500, "api_error")
    assert "SECRET-IN-EXCEPTION" not in response.text
    assert "SECRET-IN-EXCEPTION" not in gateway.logs.text()
    assert gateway.sink.metadata[-1].outcome == "upstream_error"
    assert gateway.logs.events("relay_failed")[-1]["error_type"] == "RuntimeError"


def test_a_refusal_is_counted_in_prometheus_before_it_is_answered(gateway):
    # Answered exchanges are tallied and added in bulk; a refusal is added before its answer.
    response = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": "sk-unknown"},
                          json=MSG)
    assert response.status_code == 401
    child = gateway.app.metrics.requests.labels("messages", "unauthenticated", "none", "4xx")
    assert child._value.get() == 1.0
