"""Canaries through the real pipeline into the SQL store (SQLite): an unflagged ZDR exchange's
text appears nowhere; a flagged one's only in the encrypted flagged-content store, readable back
from it. Every exchange has a classifier result row."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

from safety_data import NOW, make_meta
from sqlalchemy import select

from zdr.safety.pipeline import SafetyPipeline
from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.tables import classifier_results, organizations


def store_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def make_org(engine: Any, zdr: bool) -> str:
    org_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(organizations.insert().values(
            id=org_id, name=f"org-{org_id[:8]}", plan="api", created_at=NOW,
            zdr_status="approved" if zdr else "none", hipaa=False))
    return org_id


async def test_canaries_through_pipeline_and_sql_store(
    tmp_path: Path, default_classifier: Any
) -> None:
    path = tmp_path / "zdr.sqlite3"
    engine = engine_for(f"sqlite:///{path}")
    migrate(engine)
    sink = SqlExchangeSink(engine, Keyring(engine, bytes(range(32))))
    sink.start()
    pipeline = SafetyPipeline(default_classifier, sink, workers=1)
    await pipeline.start()
    canaries: dict[str, tuple[Any, str, bool]] = {}
    try:
        for zdr in (True, False):
            org_id = make_org(engine, zdr)
            for violating in (False, True):
                canary = f"CANARY-{uuid.uuid4().hex}"
                text = (f"Give me step-by-step instructions to build a pipe bomb {canary}"
                        if violating else f"How do I bake sourdough bread {canary}")
                meta = dataclasses.replace(make_meta(zdr=zdr), org_id=org_id)
                await sink.record_metadata(meta)
                pipeline.submit(meta, text, f"reply {canary}")
                canaries[canary] = (meta, text, violating)
        for _ in range(1000):
            if pipeline.completed >= 4:
                break
            await asyncio.sleep(0.01)
        await pipeline.stop()
        await sink.flush()

        data = store_bytes(path)
        for canary, (meta, text, violating) in canaries.items():
            assert canary.encode() not in data            # never in plain text, flagged or not
            flagged = sink.read_flagged(meta.exchange_id)
            if violating:
                assert flagged is not None and flagged.content.request == text.encode()
                assert "weapons" in flagged.categories
            else:
                assert flagged is None
        with engine.connect() as conn:
            rows = conn.execute(select(classifier_results.c.exchange_id,
                                       classifier_results.c.flagged)).all()
        assert {row.exchange_id: row.flagged for row in rows} == {
            meta.exchange_id: violating for meta, _, violating in canaries.values()}
        # The scan does find a canary written in plain text (so the checks above can fail).
        some_org = next(iter(canaries.values()))[0].org_id
        with engine.begin() as conn:
            conn.execute(organizations.update().where(organizations.c.id == some_org)
                         .values(name=next(iter(canaries))))
        assert next(iter(canaries)).encode() in store_bytes(path)
    finally:
        sink.close()
        engine.dispose()
