"""`zdr purge [--dry-run] [--json]` on a home's SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from store_data import make_org, put_record
from typer.testing import CliRunner

from zdr.cli import app
from zdr.store.crypto import create_master_key_file
from zdr.store.db import engine_for, migrate
from zdr.store.tables import contents, organizations


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    create_master_key_file(home / "master.key")
    engine = engine_for(f"sqlite:///{home / 'zdr.sqlite3'}")
    migrate(engine)
    org = make_org(engine)
    now = datetime.now(UTC)
    for i in range(3):
        put_record(engine, contents, org_id=org, exchange_id=f"old{i}",
                   expires_at=now - timedelta(hours=1))
    put_record(engine, contents, org_id=org, exchange_id="new", expires_at=now + timedelta(days=1))
    make_org(engine, deleted_at=now - timedelta(days=30))
    engine.dispose()
    return home


def rows(home: Path, table: object) -> int:
    engine = engine_for(f"sqlite:///{home / 'zdr.sqlite3'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_dry_run_json_counts_without_deleting(home: Path) -> None:
    result = CliRunner().invoke(app, ["purge", "--dry-run", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["dry_run"] is True and report["deleted"]["content"] == 3
    assert len(report["erased_orgs"]) == 1 and report["lag_seconds"] >= 3500
    assert rows(home, contents) == 4


def test_purge_prints_progress_and_summary(home: Path) -> None:
    result = CliRunner().invoke(app, ["purge", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "removed 3 expired record(s)" in result.stdout
    assert "purged content: 3" in result.stderr
    assert "organizations erased: 1" in result.stdout
    assert rows(home, contents) == 1
    engine = engine_for(f"sqlite:///{home / 'zdr.sqlite3'}")
    with engine.connect() as conn:
        erased = conn.execute(select(func.count()).where(organizations.c.erased_at.is_not(None)))
        assert erased.scalar_one() == 1
    engine.dispose()


def test_missing_store_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["purge", "--home", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert result.stderr.startswith("zdr: error: no store at")
