"""The misuse exception end to end: the gateway as `zdr serve` wires it (the real SQLite store,
the safety pipeline with the default classifier in a child process), driven with the official
`anthropic` SDK, streaming and not.

A ZDR org and a standard org each send one clean and one violating exchange, with canaries in
the input and in the stand-in upstream's output. All four get a classifier result; only the two
violating ones get flagged content (encrypted, readable through the store) and
`exchanges.misuse_exception`, with the misuse-exception rule recorded. The ZDR org's clean
canaries appear in no file under the home (database, WAL, logs) and in no log line; its violating
canaries appear only inside the encrypted flagged content, never as plaintext bytes.
"""

import json
import time

import anthropic
import pytest
from sqlalchemy import select

from zdr.observability import LineWriter
from zdr.settings import load_settings
from zdr.testing.canaries import files_under, new_canary, occurrences
from zdr.testing.logcapture import CapturedLines
from zdr.testing.servers import UvicornThread
from zdr.wiring import SafetyPort, build_app

MODEL = "claude-sonnet-5"
# From tests/safety/data/labelled.jsonl (tuning1, violent_threats): the default classifier flags it.
VIOLATING = "I'm going to kill you and your whole family tonight."
CLEAN = "Can you suggest a good recipe for a vegetable soup?"
PIPELINE_SECONDS = 60.0


class _Tee:
    def __init__(self, *writers):
        self._writers = writers

    def msg(self, message):
        for writer in self._writers:
            writer.msg(message)

    info = debug = warning = error = critical = msg


def _send(sdk, text, canary_in, canary_out, *, stream):
    """One exchange; returns its request id (= exchange id)."""
    messages = [{"role": "user", "content": [{"type": "text", "text": f"{text} {canary_in}"}]}]
    echo = {"x-stub-output": f"Noted {canary_out}."}
    if stream:
        with sdk.messages.stream(
                model=MODEL, max_tokens=64, system=f"Be brief {canary_in}", messages=messages,
                extra_headers=echo) as events:
            assert "".join(events.text_stream) == f"Noted {canary_out}."
            return events.response.headers["request-id"]
    raw = sdk.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, system=f"Be brief {canary_in}", messages=messages,
        extra_headers=echo)
    assert raw.parse().content[0].text == f"Noted {canary_out}."
    return raw.headers["request-id"]


def _classifier_rows(engine, count):
    """Poll (bounded) until `count` classifier results are stored."""
    from zdr.store.tables import classifier_results

    deadline = time.monotonic() + PIPELINE_SECONDS
    rows = []
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = conn.execute(select(classifier_results)).all()
        if len(rows) >= count:
            break
        time.sleep(0.1)
    return {row.exchange_id: row for row in rows}


@pytest.mark.slow
def test_clean_and_violating_exchanges_of_a_zdr_and_a_standard_org(stub, seeder, tmp_path):
    from zdr.store.tables import exchanges, flagged_contents

    zdr_key, zdr_org = seeder.org("zdr-safety", zdr=True)
    std_key, std_org = seeder.org("std-safety")
    canaries = {name: (new_canary(f"{name}-in"), new_canary(f"{name}-out"))
                for name in ("zdr-clean", "zdr-bad", "std-clean", "std-bad")}
    settings = load_settings(env={}, home=seeder.settings.home, upstream_url=stub.url)
    logs = CapturedLines()
    settings.log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file = LineWriter([settings.log_file.open("a", encoding="utf-8")])
    app = build_app(settings, use_store=True, log_writer=_Tee(logs, log_file))
    assert isinstance(app.safety, SafetyPort) and app.classify   # wired as `zdr serve` wires it
    sink = app.sink
    ids = {}
    server = UvicornThread(app)
    try:
        server.start()
        deadline = time.monotonic() + PIPELINE_SECONDS   # spawning the classifier takes seconds
        while not app.ready and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.safety.pipeline is not None
        zdr = anthropic.Anthropic(api_key=zdr_key, base_url=server.url, max_retries=0, timeout=10)
        std = anthropic.Anthropic(api_key=std_key, base_url=server.url, max_retries=0, timeout=10)
        with zdr, std:
            ids["zdr-clean"] = _send(zdr, CLEAN, *canaries["zdr-clean"], stream=False)
            ids["zdr-bad"] = _send(zdr, VIOLATING, *canaries["zdr-bad"], stream=True)
            ids["std-clean"] = _send(std, CLEAN, *canaries["std-clean"], stream=True)
            ids["std-bad"] = _send(std, VIOLATING, *canaries["std-bad"], stream=False)
        results = _classifier_rows(sink.engine, 4)
    finally:
        server.close()      # stops the pipeline, then flushes and closes the sink
        log_file.close()

    # All four exchanges have a classifier result (scores and labels, no text); two are flagged.
    assert set(results) == set(ids.values())
    flagged = {name for name, ex_id in ids.items() if results[ex_id].flagged}
    assert flagged == {"zdr-bad", "std-bad"}
    assert not any(results[ex_id].sampled_out for ex_id in ids.values())
    assert results[ids["zdr-bad"]].labels["violent_threats"] is True
    with sink.engine.connect() as conn:
        stored = {r.exchange_id: r for r in conn.execute(select(flagged_contents)).all()}
        rows = {r.id: r for r in conn.execute(select(exchanges)).all()}
    # Flagged content only for the violating exchanges, with the misuse exception recorded.
    assert set(stored) == {ids["zdr-bad"], ids["std-bad"]}
    for name, ex_id in ids.items():
        row = rows[ex_id]
        assert row.org_id == (zdr_org if name.startswith("zdr") else std_org)
        assert row.misuse_exception is (name in flagged)
        assert row.retention == ("zero" if name.startswith("zdr") else "30d")
        assert "retention.misuse_exception" in json.dumps(row.decision)
    for ex_id, row in stored.items():
        assert "retention.misuse_exception" in row.rule_ids
        assert row.categories == ["violent_threats"]
        assert rows[ex_id].misuse_exception
    # Flagged content is readable through the store (decrypted), input and output.
    for name in ("zdr-bad", "std-bad"):
        content = sink.read_flagged(ids[name]).content
        canary_in, canary_out = canaries[name]
        assert canary_in.encode() in content.request and VIOLATING.encode() in content.request
        assert canary_out.encode() in content.response
    assert sink.read_flagged(ids["zdr-clean"]) is None

    # No plaintext canary in any file under the home (DB, WAL, logs) or in the log lines: the ZDR
    # clean ones were never written; the flagged ones and the standard org's content are
    # written encrypted only.
    files = files_under(settings.home, tmp_path)
    assert any(p.name.endswith("-wal") or p.suffix == ".sqlite3" for p in files)
    assert settings.log_file in files
    every = [c for pair in canaries.values() for c in pair]
    assert occurrences(every, files) == []
    assert not [c for c in every if c in logs.text()]
    assert sink.read_content(ids["zdr-clean"]) is None and sink.read_content(ids["zdr-bad"]) is None
    kept = sink.read_content(ids["std-clean"]).content
    assert canaries["std-clean"][0].encode() in kept.request
