"""The background sweeper purges on its interval and erases orgs past their window."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from store_data import NOW, make_org, put_record

from zdr.catalog import default_catalog
from zdr.settings import load_settings
from zdr.store.crypto import Keyring
from zdr.store.sweeper import PurgeSweeper
from zdr.store.tables import contents, organizations


def test_sweeper_runs_in_background_until_stopped(engine: Engine, keyring: Keyring) -> None:
    org = make_org(engine)
    gone = make_org(engine, deleted_at=NOW - timedelta(days=8))
    put_record(engine, contents, org_id=org, exchange_id="old", expires_at=NOW - timedelta(days=1))
    sweeper = PurgeSweeper(engine, interval_seconds=0.05, keyring=keyring, clock=lambda: NOW)
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while sweeper.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
    runs = sweeper.runs
    assert runs >= 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contents)).scalar_one() == 0
        erased = conn.execute(select(organizations.c.erased_at)
                              .where(organizations.c.id == gone)).scalar()
    assert erased is not None
    time.sleep(0.15)
    assert sweeper.runs == runs            # stopped means stopped


def test_sweeper_from_settings_uses_interval_and_restore_window(
    engine: Engine, keyring: Keyring, tmp_path: Path
) -> None:
    settings = load_settings(env={"ZDR_PURGE_INTERVAL_SECONDS": "12.5"}, home=tmp_path)
    sweeper = PurgeSweeper.from_settings(engine, keyring, settings, default_catalog())
    assert sweeper.interval == 12.5
    assert sweeper.restore_days == default_catalog().retention.deletion_restore_days
