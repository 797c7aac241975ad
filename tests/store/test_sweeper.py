"""The background sweeper purges on its interval and erases orgs past their window."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import Engine, func, select
from store_data import NOW, make_org, put_record

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
