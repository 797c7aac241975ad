"""Org deletion: restorable within the window; then crypto-shredded and its rows deleted, except
classifier results, held records and audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from store_data import NOW, classification, content, decision, make_key, make_org, make_workspace
from store_data import meta as make_meta

from zdr.store.crypto import KeyDestroyed, Keyring
from zdr.store.deletion import due_for_erasure, erase_due, erase_org
from zdr.store.directory import SqlDirectory
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.holds import place_hold, release_hold
from zdr.store.tables import (
    api_keys,
    audit_log,
    classifier_results,
    contents,
    exchanges,
    flagged_contents,
    org_data_keys,
    organizations,
    workspaces,
)


def count(engine: Engine, table: Any, org_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)
                                .where(table.c.org_id == org_id)).scalar_one())


async def fill(engine: Engine, keyring: Keyring, org: str, n: int = 3) -> list[str]:
    sink = SqlExchangeSink(engine, keyring, clock=lambda: NOW)
    ids = []
    try:
        for i in range(n):
            m = make_meta(org, decision(), exchange_id=f"{org[:8]}-{i}")
            await sink.record_retained(m, content(f"c{i}"))
            await sink.record_classification(m, classification(m, flagged=True), content())
            ids.append(m.exchange_id)
    finally:
        await asyncio.to_thread(sink.close)
    return ids


async def test_erasure_shreds_key_and_deletes_rows_but_keeps_classifier_results(
    engine: Engine, keyring: Keyring
) -> None:
    org, bystander = make_org(engine, deleted_at=NOW), make_org(engine)
    ws = make_workspace(engine, org)
    _key, digest = make_key(engine, org, ws)
    with engine.begin() as conn:
        conn.execute(audit_log.insert().values(
            seq=1, at=NOW, actor="a", role="provider_admin", org_id=org, action="org.delete",
            prev_hash="0" * 64, hash="1" * 64))
    await fill(engine, keyring, org)
    await fill(engine, keyring, bystander)
    report = erase_org(engine, keyring, org, NOW + timedelta(days=8))
    assert report.content_key_destroyed and report.safety_key_destroyed
    for table in (contents, flagged_contents, exchanges, api_keys, workspaces):
        assert count(engine, table, org) == 0, table.name
    assert count(engine, classifier_results, org) == 3
    assert count(engine, audit_log, org) == 1
    for table in (contents, flagged_contents, exchanges, classifier_results):
        assert count(engine, table, bystander) == 3
    assert SqlDirectory(engine).principal_for_sync(digest) is None
    with engine.connect() as conn:
        erased = conn.execute(select(organizations.c.erased_at)
                              .where(organizations.c.id == org)).scalar()
        key_row = conn.execute(select(org_data_keys).where(org_data_keys.c.org_id == org)).one()
    assert erased is not None and key_row.wrapped_key is None
    assert key_row.wrapped_safety_key is None


async def test_held_records_stay_and_hold_the_key_until_released(
    engine: Engine, keyring: Keyring
) -> None:
    """A legal hold on one exchange keeps its rows and the org's key; after release, the next
    erasure run deletes them and shreds the keys."""
    org = make_org(engine, deleted_at=NOW)
    ids = await fill(engine, keyring, org)
    with engine.begin() as conn:
        hold = place_hold(conn, kind="legal", org_id=org, exchange_id=ids[0], reason="case",
                          placed_by="legal1", now=NOW)
    later = NOW + timedelta(days=8)
    report = erase_org(engine, keyring, org, later)
    assert not report.content_key_destroyed and not report.safety_key_destroyed
    assert report.held_remaining == {"contents": 1, "flagged_contents": 1,
                                     "feature_artifacts": 0, "exchanges": 1}
    sink = SqlExchangeSink(engine, keyring, clock=lambda: NOW)
    stored = sink.read_content(ids[0])
    assert stored is not None and stored.content == content("c0")
    assert sink.read_content(ids[1]) is None
    with engine.connect() as conn:
        assert due_for_erasure(conn, 7, later) == [org]    # unfinished: keys still alive
    with engine.begin() as conn:
        release_hold(conn, hold.id, "legal1", later)
    erase_due(engine, keyring, 7, later)
    assert count(engine, contents, org) == 0 and count(engine, flagged_contents, org) == 0
    with engine.connect() as conn:
        assert due_for_erasure(conn, 7, later) == []


async def test_content_is_unreadable_after_erasure_even_from_a_backup(
    engine: Engine, keyring: Keyring
) -> None:
    """A copy of the ciphertext taken before erasure (a backup) cannot be decrypted after it."""
    org = make_org(engine, deleted_at=NOW)
    await fill(engine, keyring, org, n=1)
    with engine.connect() as conn:
        backup = conn.execute(select(contents)).one()
    erase_org(engine, keyring, org, NOW + timedelta(days=8))
    from zdr.store.crypto import Sealed, record_aad

    with pytest.raises(KeyDestroyed):
        Keyring(engine, bytes(range(32))).decrypt(
            org, Sealed(backup.nonce, backup.ciphertext),
            record_aad(backup.exchange_id, "content"))


def test_only_orgs_past_the_restore_window_are_due(engine: Engine) -> None:
    recent = make_org(engine, deleted_at=NOW - timedelta(days=6))
    old = make_org(engine, deleted_at=NOW - timedelta(days=7, seconds=1))
    make_org(engine)
    with engine.connect() as conn:
        assert due_for_erasure(conn, 7, NOW) == [old]
        assert set(due_for_erasure(conn, 7, NOW + timedelta(days=2))) == {recent, old}
