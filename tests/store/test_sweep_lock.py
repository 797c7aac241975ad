"""On SQLite only one process of a machine sweeps (`HOME/purge.lock`, zdr.store.sweep_lock): a
second sweeper skips its rounds while the first lives, and takes over once it stops."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine

from zdr.catalog import default_catalog
from zdr.settings import load_settings
from zdr.store.db import engine_for, migrate
from zdr.store.sweep_lock import SweepLock
from zdr.store.sweeper import PurgeSweeper


def wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def sqlite_engine(home: Path) -> Engine:
    engine = engine_for(f"sqlite:///{home / 'zdr.sqlite3'}")
    migrate(engine)
    return engine


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first, second = SweepLock(tmp_path / "purge.lock"), SweepLock(tmp_path / "purge.lock")
    assert first.try_acquire() and first.try_acquire()          # re-entrant for its holder
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_only_one_of_two_workers_sweeps_and_the_other_takes_over(tmp_path: Path) -> None:
    settings = load_settings(env={"ZDR_PURGE_INTERVAL_SECONDS": "0.05"}, home=tmp_path)
    engine = sqlite_engine(tmp_path)
    try:
        one = PurgeSweeper.from_settings(engine, None, settings, default_catalog())
        two = PurgeSweeper.from_settings(engine, None, settings, default_catalog())
        assert one.lock is not None and one.lock.path == tmp_path / "purge.lock"
        one.start()
        assert wait_for(lambda: one.runs >= 1)
        two.start()
        assert wait_for(lambda: one.runs >= 4)
        assert two.runs == 0                                    # skipped every round
        one.stop()
        assert wait_for(lambda: two.runs >= 1)                  # took over
        two.stop()
    finally:
        engine.dispose()


def test_postgresql_needs_no_file_lock(engine: Engine, tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path)
    sweeper = PurgeSweeper.from_settings(engine, None, settings, default_catalog())
    assert (sweeper.lock is None) == (engine.dialect.name == "postgresql")
