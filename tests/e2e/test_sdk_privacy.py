"""End to end with the official `anthropic` SDK, the real SQL store and the stand-in upstream:
a ZDR org and a standard org side by side, with canaries in inputs and in upstream outputs.

The promise (docs/DESIGN.md §6): no byte of the ZDR org's content reaches the database files (WAL
included), the logs or the temp files — also when the upstream fails and when the client hangs
up mid-stream — while the standard org's content is kept (encrypted) and can be read back.
"""

import threading

import anthropic
import httpx
import pytest

from zdr.testing.canaries import files_under, new_canary, occurrences
from zdr.testing.harness import GatewayHarness

MODEL = "claude-sonnet-5"
TOOLS = [{"name": "lookup", "description": "Look a thing up.",
          "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]


OPEN_CLIENTS = []


def client(gw, key, **kw):
    sdk = anthropic.Anthropic(api_key=key, base_url=gw.url, max_retries=0, timeout=10, **kw)
    OPEN_CLIENTS.append(sdk)
    return sdk


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


def exercise(sdk, canary_in, canary_out):
    """Every route with content, streaming and not, tools included; returns retention headers."""
    retention = set()
    user = [{"role": "user", "content": f"Please remember {canary_in}."}]
    echo = {"x-stub-output": f"Sure: {canary_out}"}
    raw = sdk.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, system=f"System {canary_in}", messages=user,
        extra_headers=echo)
    message = raw.parse()
    retention.add(raw.headers["zdr-retention"])
    assert message.content[0].text == f"Sure: {canary_out}"
    assert message.usage.input_tokens > 0 and message.stop_reason == "end_turn"

    with sdk.messages.stream(model=MODEL, max_tokens=64, messages=user,
                             extra_headers=echo) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        retention.add(stream.response.headers["zdr-retention"])
    assert text == f"Sure: {canary_out}" and final.stop_reason == "end_turn"

    tooled = sdk.messages.create(model=MODEL, max_tokens=64, messages=user, tools=TOOLS)
    assert tooled.stop_reason == "tool_use"
    call = next(b for b in tooled.content if b.type == "tool_use")
    assert call.name == "lookup" and call.input == {"query": "stand-in"}
    with sdk.messages.stream(model=MODEL, max_tokens=64, messages=user, tools=TOOLS) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in streamed.content] == ["text", "tool_use"]
    assert streamed.content[1].input == {"query": "stand-in"}
    follow = sdk.messages.create(model=MODEL, max_tokens=64, tools=TOOLS, messages=[
        *user, {"role": "assistant", "content": tooled.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": f"result {canary_in}"}]}])
    assert follow.stop_reason == "end_turn"

    counted = sdk.messages.count_tokens(model=MODEL, messages=user)
    assert counted.input_tokens > 0
    assert sdk.models.retrieve(MODEL).id == MODEL
    assert MODEL in [m.id for m in sdk.models.list().data]
    return retention


def read_exchanges(seeder, org_id):
    from sqlalchemy import select

    from zdr.store.tables import contents, exchanges

    with seeder.engine.connect() as conn:
        rows = conn.execute(select(exchanges.c.id, exchanges.c.outcome, exchanges.c.retention,
                                   exchanges.c.surface)
                            .where(exchanges.c.org_id == org_id)).all()
        stored = conn.execute(select(contents.c.exchange_id)
                              .where(contents.c.org_id == org_id)).all()
    return rows, [r.exchange_id for r in stored]


@pytest.mark.slow
def test_zdr_and_standard_orgs_side_by_side(stub, seeder, tmp_path):
    zdr_key, zdr_org = seeder.org("zdr-co", zdr=True)
    std_key, std_org = seeder.org("std-co")
    zdr_in, zdr_out = new_canary("zdr-in"), new_canary("zdr-out")
    std_in, std_out = new_canary("std-in"), new_canary("std-out")
    with GatewayHarness(seeder.settings.home, stub.url, use_store=True) as gw:
        assert exercise(client(gw, zdr_key), zdr_in, zdr_out) == {"zero"}
        assert exercise(client(gw, std_key), std_in, std_out) == {"30d"}
        sink = gw.sink
    # After shutdown (the sink flushed): nothing of the ZDR org anywhere under the home.
    files = files_under(seeder.settings.home, tmp_path)
    assert any(p.name.endswith("-wal") or p.suffix == ".sqlite3" for p in files)
    assert occurrences([zdr_in, zdr_out], files) == []
    assert zdr_in not in gw.logs.text() and zdr_out not in gw.logs.text()
    # Metadata for every ZDR exchange, content for none.
    rows, stored = read_exchanges(seeder, zdr_org)
    assert len(rows) == 8 and {r.outcome for r in rows} == {"ok"} and stored == []
    assert {r.retention for r in rows if r.surface == "messages"} == {"zero"}
    # The standard org's content is kept (encrypted at rest, readable through the store).
    rows, stored = read_exchanges(seeder, std_org)
    assert len(rows) == 8 and len(stored) == 6   # 5 messages + 1 count_tokens
    texts = [sink.read_content(exchange_id) for exchange_id in stored]
    joined = b"".join(t.content.request + t.content.response for t in texts if t is not None)
    assert std_in.encode() in joined and std_out.encode() in joined
    assert occurrences([std_in, std_out], files) == []   # never in plain text on disk


@pytest.mark.slow
def test_refusals_and_failures_keep_nothing_of_the_zdr_org(stub, seeder, tmp_path):
    zdr_key, zdr_org = seeder.org("zdr-fail", zdr=True)
    hipaa_key, _ = seeder.org("hipaa-co", hipaa=True, zdr=True)
    canary = new_canary("fail")
    user = [{"role": "user", "content": f"secret {canary}"}]
    with GatewayHarness(seeder.settings.home, stub.url, use_store=True) as gw:
        sdk = client(gw, zdr_key)
        # Covered model from a ZDR scope.
        with pytest.raises(anthropic.BadRequestError) as refused:
            sdk.messages.create(model="claude-mythos-5", max_tokens=8, messages=user)
        assert "data retention enabled" in str(refused.value)
        assert refused.value.response.headers["zdr-retention"] == "zero"
        # HIPAA: web search is not covered by the BAA.
        with pytest.raises(anthropic.BadRequestError) as refused:
            client(gw, hipaa_key).messages.create(
                model=MODEL, max_tokens=8, messages=user,
                tools=[{"type": "web_search_20250305", "name": "web_search"}])
        assert "web_search" in str(refused.value)
        # Browser access to a ZDR org (the browser's CORS Origin header).
        with pytest.raises(anthropic.PermissionDeniedError):
            client(gw, zdr_key, default_headers={
                "origin": "https://app.example.com"}).messages.create(
                model=MODEL, max_tokens=8, messages=user)
        for refusal in (refused.value,):
            assert canary not in refusal.response.text
        # The upstream fails and quotes the input: the client gets that body, nothing else does.
        with pytest.raises(anthropic.InternalServerError) as failed:
            sdk.messages.create(model=MODEL, max_tokens=8, messages=user, extra_headers={
                "x-stub-fail-status": "500", "x-stub-fail-echo": "1"})
        assert canary in failed.value.response.text
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            sdk.messages.create(model=MODEL, max_tokens=8, messages=user,
                                extra_headers={"x-stub-fail-status": "529"})
        assert overloaded.value.status_code == 529
        # Fails mid-stream: the SDK sees the API's error event.
        with pytest.raises(anthropic.APIStatusError), sdk.messages.stream(
                model=MODEL, max_tokens=8, messages=user, extra_headers={
                    "x-stub-fail-mid-stream": "1", "x-stub-output": f"out {canary}"}) as stream:
            "".join(stream.text_stream)
        # The client hangs up mid-stream with the canary already in flight.
        with httpx.stream("POST", gw.url + "/v1/messages", timeout=10, headers={
                "x-api-key": zdr_key, "x-stub-chunks": "30", "x-stub-chunk-delay-ms": "50",
                "x-stub-output": " ".join([canary] * 10)}, json={
                "model": MODEL, "max_tokens": 8, "messages": user, "stream": True}) as response:
            for line in response.iter_lines():
                if canary[:8] in line:
                    break
        outcomes = sorted(m.outcome for m in _wait_for_metadata(gw, 7))
    files = files_under(seeder.settings.home, tmp_path)
    assert occurrences([canary], files) == []
    assert canary not in gw.logs.text()
    rows, stored = read_exchanges(seeder, zdr_org)
    assert stored == []
    assert {r.outcome for r in rows} == {"rejected", "upstream_error", "client_disconnected"}
    assert "client_disconnected" in outcomes


def _wait_for_metadata(gw, count, timeout=5.0):
    """The SQL sink writes asynchronously: poll the store until `count` exchanges are there."""
    import time

    from sqlalchemy import func, select

    from zdr.store.tables import exchanges

    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        with gw.sink.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(exchanges)).scalar_one()
            if n >= count:
                rows = conn.execute(select(exchanges.c.outcome)).all()
                break
        time.sleep(0.1)
    return rows


def test_concurrent_clients_of_both_orgs(stub, seeder):
    # Two orgs interleaved on one gateway: each response carries its own org's retention.
    zdr_key, _ = seeder.org("zdr-par", zdr=True)
    std_key, _ = seeder.org("std-par")
    results = []
    with GatewayHarness(seeder.settings.home, stub.url, use_store=True) as gw:
        def run(key):
            sdk = client(gw, key)
            for _ in range(5):
                raw = sdk.messages.with_raw_response.create(
                    model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
                results.append((key, raw.headers["zdr-retention"]))

        threads = [threading.Thread(target=run, args=(k,)) for k in (zdr_key, std_key) * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert len(results) == 20
    assert {r for k, r in results if k == zdr_key} == {"zero"}
    assert {r for k, r in results if k == std_key} == {"30d"}
