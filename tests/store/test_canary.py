"""No byte of a ZDR exchange's content reaches the SQLite file or its WAL; a standard org's
content is there only encrypted. (The scan itself is checked to find a plaintext canary.)"""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
from store_data import CATALOG, NOW, classification, make_org

from zdr.policy import Arrangements, OrgState, decide, extract_facts
from zdr.ports import ExchangeMetadata, RetainedContent
from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.tables import organizations


def store_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def exchange(org_id: str, canary: str, zdr: bool) -> tuple[ExchangeMetadata, RetainedContent]:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": f"please remember {canary}"}]}
    facts = extract_facts("POST", "/v1/messages", {"content-type": "application/json"}, body,
                          "api", CATALOG)
    org = OrgState(plan="api", zdr_status="approved" if zdr else "none", org_id=org_id)
    dec = decide(facts, Arrangements(org=org), CATALOG, NOW)
    assert dec.zdr == ("applied" if zdr else "none")
    meta = ExchangeMetadata(exchange_id=f"ex_{uuid.uuid4().hex}", org_id=org_id,
                            workspace_id=None, key_id=None, started_at=NOW, decision=dec,
                            status_code=200, outcome="ok", input_tokens=12, output_tokens=3)
    answer = {"content": [{"type": "text", "text": f"noted: {canary}"}]}
    return meta, RetainedContent(orjson.dumps(body), orjson.dumps(answer))


async def test_zdr_metadata_leaves_no_canary_in_sqlite_file_or_wal(tmp_path: Path) -> None:
    path = tmp_path / "zdr.sqlite3"
    engine = engine_for(f"sqlite:///{path}")
    migrate(engine)
    zdr_canary, std_canary = f"CANARY-ZDR-{uuid.uuid4().hex}", f"CANARY-STD-{uuid.uuid4().hex}"
    zdr_org, std_org = make_org(engine, zdr=True), make_org(engine)
    sink = SqlExchangeSink(engine, Keyring(engine, bytes(range(32))))
    try:
        for _ in range(50):
            meta, _content = exchange(zdr_org, zdr_canary, zdr=True)
            await sink.record_metadata(meta)           # the ZDR path: metadata only, by type
            await sink.record_classification(meta, classification(meta, flagged=False), None)
            meta, retained = exchange(std_org, std_canary, zdr=False)
            await sink.record_metadata(meta)
            await sink.record_retained(meta, retained)  # standard org: encrypted at rest
        await sink.flush()
        data = store_bytes(path)
        assert (path.parent / (path.name + "-wal")).exists()
        assert zdr_canary.encode() not in data
        assert std_canary.encode() not in data
        assert sink.read_content(meta.exchange_id) is not None
        # The scan finds a canary when one is written in plain text (so the check above can fail).
        with engine.begin() as conn:
            conn.execute(organizations.update().where(organizations.c.id == zdr_org)
                         .values(name=zdr_canary))
        assert zdr_canary.encode() in store_bytes(path)
    finally:
        sink.close()
        engine.dispose()
