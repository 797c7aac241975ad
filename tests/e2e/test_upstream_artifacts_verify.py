"""A standard org's files and batches: the upstream holds them as the feature's artifact, the
gateway keeps no copy, says so in `zdr-retention`, and `zdr verify` agrees with the decisions."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from typer.testing import CliRunner

from zdr.cli import app
from zdr.store import tables
from zdr.testing.canaries import new_canary
from zdr.testing.harness import GatewayHarness


def batch(text: str) -> bytes:
    return orjson.dumps({"requests": [{"custom_id": "a", "params": {
        "model": "claude-haiku-4-5", "max_tokens": 8,
        "messages": [{"role": "user", "content": text}]}}]})


def test_files_and_batches_of_a_standard_org_leave_verify_clean(stub: Any, seeder: Any) -> None:
    key, _ = seeder.org("plain", plan="api")
    canary = new_canary("ARTIFACT")
    headers = {"x-api-key": key}
    with GatewayHarness(seeder.settings.home, stub.url, use_store=True) as gw:
        uploaded = httpx.post(gw.url + "/v1/files", headers=headers,
                              files={"file": ("notes.txt", canary.encode())})
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.headers["zdr-retention"] == "until-deleted"
        created = httpx.post(gw.url + "/v1/messages/batches", headers=headers,
                             content=batch(canary))
        assert created.status_code == 200, created.text
        assert created.headers["zdr-retention"] == "29d"
        listed = httpx.get(gw.url + "/v1/messages/batches", headers=headers)
        assert listed.status_code == 200 and listed.headers["zdr-retention"] == "29d"
    with seeder.engine.connect() as conn:
        exchanges = conn.execute(select(tables.exchanges.c.surface, tables.exchanges.c.retention,
                                        tables.exchanges.c.decision)).all()
        stored = conn.execute(select(func.count()).select_from(tables.contents)).scalar_one()
    assert {(e.surface, e.retention) for e in exchanges} == {("files", "until-deleted"),
                                                            ("batches", "29d")}
    assert all(e.decision["keep"]["content"]["kept"] is False for e in exchanges)
    assert stored == 0                                   # nothing of the file or batch copied
    result = CliRunner().invoke(app, ["verify", "--home", str(seeder.settings.home),
                                      "--canary", canary], env={"ZDR_HOME": ""})
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "RESULT: clean" in result.stdout
