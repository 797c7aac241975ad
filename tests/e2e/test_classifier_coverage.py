"""What each decision says is kept is what the store holds, on every route with content.

The gateway as `zdr serve` wires it (the SQLite store, the safety pipeline with the default
classifier in a child process), a standard and a ZDR org, one exchange per route: messages,
count_tokens, a complete and an abandoned stream, Claude Code's messages and feedback, a new
batch, its results, a batch list, a text and an image upload. For every exchange the stored rows
are checked against the decision stored next to them:

- a classifier result iff the decision keeps `classifier_result` (every allowed route here);
- flagged content iff the exchange violates the Usage Policy and the decision keeps
  `flagged_content` (ZDR included: the misuse exception);
- content iff the decision keeps `content` and the route is a conversation; what files, batches
  and Claude Code's server-side storage carry is held by the upstream as that feature's artifact
  (the decision keeps `feature_artifact`), never copied into the gateway's store;
- the ZDR org's clean canaries appear in no file under the home.
"""

import time

import httpx
import orjson
import pytest
from sqlalchemy import select

from zdr.settings import load_settings
from zdr.testing.canaries import files_under, new_canary, occurrences
from zdr.testing.logcapture import CapturedLines
from zdr.testing.servers import UvicornThread
from zdr.wiring import build_app

MODEL = "claude-sonnet-5"
VIOLATING = "I'm going to kill you and your whole family tonight."
FILLER = " and then the soup simmers gently for a while"
PIPELINE_SECONDS = 60.0
CONVERSATIONS = frozenset({"messages", "count_tokens", "stream", "stream-abandoned",
                           "claude-code"})
CLI = {"user-agent": "claude-cli/2.0.0 (external, cli)", "x-app": "cli"}


def _message(text, **extra):
    return {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": text}],
            **extra}


def exercise(url, key, canary):
    """One exchange per route; returns {route: (exchange id, violating?)}."""
    done = {}
    headers = {"x-api-key": key}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        def post(path, name, violating, **kw):
            response = http.post(path, **kw)
            assert response.status_code == 200, (name, response.text)
            done[name] = (response.headers["request-id"], violating)
            return response

        post("/v1/messages", "messages", True, json=_message(VIOLATING))
        post("/v1/messages/count_tokens", "count_tokens", True,
             json={"model": MODEL, "messages": [{"role": "user", "content": VIOLATING}]})
        post("/v1/messages", "stream", False, json=_message(f"Soup? {canary}", stream=True),
             headers={"x-stub-output": f"Yes {canary}"})
        with http.stream("POST", "/v1/messages", json=_message("Tell me", stream=True), headers={
                "x-stub-output": VIOLATING + FILLER * 8, "x-stub-chunks": "8",
                "x-stub-chunk-delay-ms": "150"}) as response:
            seen = 0
            for line in response.iter_lines():
                seen += line.startswith("event: content_block_delta")
                if seen == 7:
                    break
            done["stream-abandoned"] = (response.headers["request-id"], True)
        post("/v1/messages", "claude-code", False, json=_message(f"Refactor {canary}"),
             headers=CLI)
        post("/api/claude_cli_feedback", "claude-code-feedback", True, headers=CLI,
             json={"transcript": [{"role": "user", "content": VIOLATING}]})
        batch = post("/v1/messages/batches", "batch-create", True, content=orjson.dumps(
            {"requests": [{"custom_id": "a", "params": _message(f"Hi {canary}")},
                          {"custom_id": "b", "params": _message(VIOLATING)}]}),
            headers={"x-stub-output": f"{VIOLATING} {canary}"})
        response = http.get(f"/v1/messages/batches/{batch.json()['id']}/results")
        done["batch-results"] = (response.headers["request-id"], True)
        response = http.get("/v1/messages/batches")
        done["batch-list"] = (response.headers["request-id"], False)
        text = (FILLER * 300 + " " + VIOLATING).encode()
        post("/v1/files", "file-text", True, files={"file": ("notes.md", text, "text/markdown")})
        post("/v1/files", "file-image", False,
             files={"file": ("a.png", b"\x89PNG\r\n\x1a\n\x00\x00" + canary.encode(),
                             "image/png")})
    return done


def stored(engine, table, ids):
    with engine.connect() as conn:
        column = table.c.id if table.name == "exchanges" else table.c.exchange_id
        return {row._mapping[column.name]: row
                for row in conn.execute(select(table).where(column.in_(ids))).all()}


def wait_for_results(engine, ids):
    from zdr.store.tables import classifier_results

    deadline = time.monotonic() + PIPELINE_SECONDS
    while time.monotonic() < deadline:
        if len(stored(engine, classifier_results, ids)) >= len(ids):
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_stored_rows_match_each_decision_on_every_route(stub, seeder, tmp_path):
    from zdr.store.tables import classifier_results, contents, exchanges, flagged_contents

    keys = {"standard": seeder.org("std-routes"), "zdr": seeder.org("zdr-routes", zdr=True)}
    canaries = {name: new_canary(f"{name}-clean") for name in keys}
    settings = load_settings(env={}, home=seeder.settings.home, upstream_url=stub.url)
    logs = CapturedLines()
    app = build_app(settings, use_store=True, log_writer=logs)
    server = UvicornThread(app)
    runs = {}
    try:
        server.start()
        deadline = time.monotonic() + PIPELINE_SECONDS
        while not app.ready and time.monotonic() < deadline:
            time.sleep(0.05)
        for name, (key, _org) in keys.items():
            runs[name] = exercise(server.url, key, canaries[name])
        ids = [exchange_id for run in runs.values() for exchange_id, _ in run.values()]
        wait_for_results(app.sink.engine, ids)
    finally:
        server.close()
    engine = seeder.engine
    rows = {table.name: stored(engine, table, ids)
            for table in (exchanges, classifier_results, contents, flagged_contents)}
    problems = []
    for org, run in runs.items():
        for route, (exchange_id, violating) in run.items():
            decision = rows["exchanges"][exchange_id].decision
            keep = {name: value["kept"] for name, value in decision["keep"].items()}
            expected = {
                "classifier_results": keep["classifier_result"],
                "flagged_contents": violating and keep["flagged_content"],
                "contents": keep["content"] and route in CONVERSATIONS,
            }
            if route not in CONVERSATIONS:      # held upstream, as the feature's artifact
                assert keep["feature_artifact"], (org, route)
            for table, wanted in expected.items():
                if (exchange_id in rows[table]) != wanted:
                    problems.append(f"{org} {route}: {table} stored="
                                    f"{exchange_id in rows[table]}, expected {wanted}")
    assert problems == []
    # ZDR: content nowhere, not even the abandoned stream's; the standard org keeps its part.
    zdr_ids = [exchange_id for exchange_id, _ in runs["zdr"].values()]
    assert not any(exchange_id in rows["contents"] for exchange_id in zdr_ids)
    abandoned = runs["standard"]["stream-abandoned"][0]
    assert rows["exchanges"][abandoned].outcome == "client_disconnected"
    assert abandoned in rows["contents"]
    # What was not scored says why; a flagged batch keeps only its flagged requests.
    for org, run in runs.items():
        assert rows["classifier_results"][run["file-image"][0]].labels == {
            "not_scored:media_type": True}, org
        assert rows["classifier_results"][run["batch-list"][0]].labels == {
            "not_scored:no_content": True}, org
    flagged = app.sink.read_flagged(runs["zdr"]["batch-create"][0]).content
    assert VIOLATING.encode() in flagged.request
    assert canaries["zdr"].encode() not in flagged.request     # the clean request is not kept
    # The ZDR org's clean canaries: in no file under the home, in no log line.
    files = files_under(settings.home, tmp_path)
    assert occurrences([canaries["zdr"]], files) == []
    assert canaries["zdr"] not in logs.text()
