"""`zdr verify` on PostgreSQL: the same store checks over SQLAlchemy Core, and the canary search
both through SQL (no data directory) and byte-wise in the server's data directory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from store_builder import MASTER, NOW, Store, failing

from zdr.settings import load_settings
from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate
from zdr.store.tables import contents, organizations
from zdr.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres
CANARY = "CANARY-pg-5e0c2b7a91"


@pytest.fixture
def pg_store(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Store]:
    name = f"zdr_verify_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    home = tmp_path / "home"
    home.mkdir()
    settings = load_settings(env={}, home=home, db_url=url)
    engine = engine_for(url)
    migrate(engine)
    try:
        yield Store(settings, engine, Keyring(engine, MASTER))
    finally:
        engine.dispose()
        postgres_server.drop_database(name)


def fill(store: Store) -> None:
    store.org("acme")
    store.org("quiet", zdr=True)
    store.exchange("acme")
    store.exchange("quiet", zdr=True)
    store.exchange("quiet", zdr=True, features=frozenset({"code_execution"}))


def test_a_clean_postgres_store_passes(pg_store: Store) -> None:
    fill(pg_store)
    report = pg_store.verify()
    assert report.ok, report.violations
    assert all(c.status == "ok" for c in report.checks)


def test_zdr_content_and_expired_rows_are_caught_on_postgres(pg_store: Store) -> None:
    fill(pg_store)
    pg_store.exchange("acme", started=NOW - timedelta(days=40))          # expired content
    zdr = pg_store.exchange("quiet", zdr=True)
    sealed = pg_store.seal(zdr)
    expires = NOW + timedelta(days=30)
    pg_store.partitions("contents", expires)
    with pg_store.engine.begin() as conn:
        conn.execute(contents.insert().values(
            exchange_id=zdr.exchange_id, org_id=zdr.org_id, workspace_id=None,
            nonce=sealed.nonce, ciphertext=sealed.ciphertext, rule_ids=[], created_at=NOW,
            expires_at=expires))
    found = failing(pg_store.verify())
    assert len(found["zdr_content"]) == 1
    assert len(found["expiry"]) == 1


def test_canary_in_a_table_is_found_through_sql(pg_store: Store) -> None:
    fill(pg_store)
    with pg_store.engine.begin() as conn:
        conn.execute(organizations.update().where(organizations.c.name == "acme")
                     .values(name=f"acme {CANARY}"))
    report = pg_store.verify(canaries=(CANARY, "CANARY-pg-absent-000"))
    hits = [v for v in report.violations if v.check == "canaries"]
    assert [v.where for v in hits] == ["organizations.name"]
    assert "canary #1" in hits[0].problem


def test_canary_in_the_data_directory_is_found_byte_wise(
    pg_store: Store, postgres_server: PostgresServer
) -> None:
    fill(pg_store)
    with pg_store.engine.begin() as conn:
        conn.execute(organizations.update().where(organizations.c.name == "acme")
                     .values(name=f"acme {CANARY}"))
    with pg_store.engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
    report = pg_store.verify(canaries=(CANARY,), pg_data_dir=postgres_server.data_dir)
    hits = [v for v in report.violations if v.check == "canaries"]
    assert hits and all(str(postgres_server.data_dir) in v.where for v in hits)
