"""A standard org's exchange through the gateway and its SQLite store: its content is written
before the last byte, in the same transaction as its metadata row, and that row's figures
(status, outcome, token counts, duration, time to first byte) are the exchange's final ones,
as the access log line reports them (timings within the store's 50 ms slack), for a JSON answer
and for a stream, with no second write for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from zdr.store.db import engine_for
from zdr.store.exchanges import FINAL_TIMING_SLACK_MS
from zdr.store.tables import contents, exchanges
from zdr.testing.harness import GatewayHarness


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_row_written_with_the_content_holds_the_final_figures(
        stub: Any, seeder: Any, tmp_path: Path, stream: bool) -> None:
    secret, org_id = seeder.org("standard-figures")
    home = tmp_path / "home"
    body = {"model": "claude-sonnet-5", "max_tokens": 8, "stream": stream,
            "messages": [{"role": "user", "content": "how long did this take?"}]}
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    jobs: list[Any] = []
    with GatewayHarness(home, stub.url, use_store=True) as gateway, \
            httpx.Client(base_url=gateway.url, timeout=60) as client:
        client.post("/v1/messages", headers=headers, json=body)   # the org's key, a connection
        writer = gateway.app.sink.writer
        commit = writer._commit

        def watched(batch: Any) -> None:
            jobs.extend(batch)
            commit(batch)

        writer._commit = watched
        finals = []
        for _ in range(4):
            answer = client.post("/v1/messages", headers=headers, json=body)
            assert answer.status_code == 200 and answer.headers["zdr-retention"] == "30d"
            finals.append(answer.headers["request-id"])
    logged = {r["request_id"]: r for r in gateway.logs.records if r.get("event") == "exchange"}
    updates = [job for job in jobs if job.final and job.meta.exchange_id in finals]
    # One job per exchange; a final update only when the machine held the answer up past the
    # slack after its commit (a loaded test machine may, now and then).
    assert len(updates) <= 1, [job.meta for job in updates]
    engine = engine_for(f"sqlite:///{home / 'zdr.sqlite3'}")
    try:
        with engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(exchanges).where(
                exchanges.c.org_id == org_id))}
            kept = set(conn.execute(select(contents.c.exchange_id)).scalars())
    finally:
        engine.dispose()
    for request_id in finals:
        row, line = rows[request_id], logged[request_id]
        assert request_id in kept
        assert (row.status_code, row.outcome, row.input_tokens, row.output_tokens,
                row.stream) == (line["status"], line["outcome"], line["input_tokens"],
                                line["output_tokens"], stream)
        assert line["outcome"] == "ok" and line["output_tokens"]
        assert abs(row.duration_ms - line["duration_ms"]) <= FINAL_TIMING_SLACK_MS
        assert row.ttfb_ms is not None
        assert abs(row.ttfb_ms - line["ttfb_ms"]) <= FINAL_TIMING_SLACK_MS
        assert row.ttfb_ms <= row.duration_ms
