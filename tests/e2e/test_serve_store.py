"""What `zdr serve` does with the store before and while it serves: refuses a master key file
others can read (one line: `chmod 600`), migrates an older store to head, and runs the purge
sweeper in the gateway's lifespan (started at start-up, stopped at shutdown)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from alembic import command
from sqlalchemy import func, select

from zdr.cli.serve_cmds import prepare_store
from zdr.settings import load_settings
from zdr.store.crypto import create_master_key_file
from zdr.store.db import _config, check_current, engine_for, migrate
from zdr.store.tables import upstream_resources
from zdr.testing.harness import GatewayHarness


def test_serve_refuses_a_world_readable_master_key(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(env={}, home=tmp_path)
    create_master_key_file(settings.key_file).chmod(0o644)
    with pytest.raises(typer.Exit):
        prepare_store(settings)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"chmod 600 {settings.key_file}" in err


def test_serve_migrates_an_older_store(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path)
    create_master_key_file(settings.key_file)
    engine = engine_for(settings.database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0001_initial")
        prepare_store(settings)
        assert check_current(engine).up_to_date
    finally:
        engine.dispose()


def test_the_gateway_runs_the_purge_sweeper(stub: object, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings(env={}, home=home)
    engine = engine_for(settings.database_url)
    migrate(engine)
    create_master_key_file(settings.key_file)
    old = datetime.now(UTC) - timedelta(days=40)
    with engine.begin() as conn:        # an ownership record past its 29 days
        conn.execute(upstream_resources.insert().values(
            kind="batch", resource_id="msgbatch_old", org_id=str(uuid.uuid4()),
            exchange_id="req_old", created_at=old, expires_at=old + timedelta(days=29)))

    def left() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(upstream_resources))
                       .scalar_one())

    try:
        with GatewayHarness(home, stub.url, use_store=True,   # type: ignore[attr-defined]
                            purge_interval_seconds=0.1):
            deadline = time.monotonic() + 15
            while left() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert left() == 0
            assert (home / "purge.lock").exists()
    finally:
        engine.dispose()
