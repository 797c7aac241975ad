"""Schema and migrations: the same Alembic revisions build the schema on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from zdr.store.db import (
    SchemaTooNew,
    check_current,
    durability_warning,
    engine_for,
    head_revision,
    migrate,
)
from zdr.store.tables import metadata


def test_migrated_schema_has_every_table_and_is_at_head(engine: Engine) -> None:
    """Every table of tables.py exists after migrate, and the database reports head."""
    names = set(inspect(engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= names
    status = check_current(engine)
    assert status.up_to_date and status.current == head_revision()


def test_migrate_is_idempotent(engine: Engine) -> None:
    """Running migrate on an up-to-date database changes nothing and does not fail."""
    assert migrate(engine).up_to_date
    assert migrate(engine).up_to_date


def test_columns_match_tables_py(engine: Engine) -> None:
    """The migration and tables.py agree on every column name (others query by tables.py)."""
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        migrated = {c["name"] for c in inspector.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name


def test_database_newer_than_code_is_refused(engine: Engine) -> None:
    """A revision this code does not know stops migrate and check_current with a clear message."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    try:
        with pytest.raises(SchemaTooNew, match="upgrade zdr-gateway"):
            migrate(engine)
        with pytest.raises(SchemaTooNew):
            check_current(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"),
                         {"v": head_revision()})


def test_new_database_reports_no_revision(tmp_path: Path) -> None:
    """An empty SQLite file is behind head until migrated."""
    engine = engine_for(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    try:
        assert check_current(engine).current is None
        assert not check_current(engine).up_to_date
        assert migrate(engine).up_to_date
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    """Several worker processes can share the file: WAL journal, a busy timeout, foreign keys."""
    engine = engine_for(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_content_tables_are_partitioned_on_postgres(engine: Engine) -> None:
    """On PostgreSQL, contents and flagged_contents are range-partitioned by expiry."""
    if engine.dialect.name != "postgresql":
        assert engine.dialect.name == "sqlite"
        return
    with engine.connect() as conn:
        kinds = dict(conn.execute(text(
            "SELECT relname, relkind FROM pg_class WHERE relname IN "
            "('contents', 'flagged_contents', 'exchanges')"
        )).all())
    assert kinds == {"contents": "p", "flagged_contents": "p", "exchanges": "r"}


def test_a_database_that_may_lose_commits_is_named(engine: Engine) -> None:
    """The suite's PostgreSQL runs without synchronous_commit (it is thrown away): `zdr serve`
    warns of such a server, where a crash loses commits already answered as stored."""
    warning = durability_warning(engine)
    if engine.dialect.name == "postgresql":
        assert warning is not None and "synchronous_commit" in warning
    else:
        assert warning is None
