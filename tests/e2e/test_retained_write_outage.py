"""A standard org's request whose key is still cached when the store goes away: the gateway may
relay it, but it never answers as if the content were stored (retained content is committed
before the last byte, or the request fails). JSON: 503 in the API's format. Stream: the events
end with an `error` event, never `message_stop`. Once the store is back, neither's content is
in it (their metadata may be, as failed exchanges)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from store_faults import replaced_by_a_directory

from zdr.store.db import engine_for
from zdr.store.tables import contents, exchanges
from zdr.testing.canaries import new_canary
from zdr.testing.harness import GatewayHarness


def test_a_retained_exchange_is_never_answered_as_stored_when_the_store_is_gone(
        stub: Any, seeder: Any, tmp_path: Path) -> None:
    secret, org_id = seeder.org("standard-co")
    home = tmp_path / "home"
    store = home / "zdr.sqlite3"
    canary = new_canary("RETAIN")
    body = {"model": "claude-sonnet-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": f"keep {canary}"}]}
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    with GatewayHarness(home, stub.url, use_store=True, key_cache_ttl_seconds=600) as gateway, \
            httpx.Client(base_url=gateway.url, timeout=60) as client:
        first = client.post("/v1/messages", headers=headers, json=body)
        assert first.status_code == 200 and first.headers["zdr-retention"] == "30d"
        with replaced_by_a_directory(store):            # the key stays cached meanwhile
            answer = client.post("/v1/messages", headers=headers, json=body)
            assert answer.status_code == 503, answer.text
            error = answer.json()
            assert error["type"] == "error" and error["error"]["type"] == "api_error"
            assert canary not in answer.text
            with client.stream("POST", "/v1/messages", headers=headers,
                               json={**body, "stream": True}) as streamed:
                events = streamed.read().decode()
            assert "event: error" in events and "message_stop" not in events
            refused = {answer.headers["request-id"], streamed.headers["request-id"]}
    engine = engine_for(f"sqlite:///{store}")
    try:
        with engine.connect() as conn:
            kept = set(conn.execute(select(contents.c.exchange_id)).scalars())
            outcomes = dict(conn.execute(select(exchanges.c.id, exchanges.c.outcome).where(
                exchanges.c.org_id == org_id)).all())
    finally:
        engine.dispose()
    assert first.headers["request-id"] in kept
    assert refused & kept == set()
    # Their metadata may have been written once the store was back: as failures, never "ok".
    assert {outcomes[i] for i in refused if i in outcomes} <= {"store_unavailable"}
    assert canary not in gateway.logs.text()
