"""Purge: nothing past expiry survives unless held; nothing held is ever deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text
from store_data import NOW, make_org, make_workspace, put_record
from store_reset import reset

from zdr.store import metrics
from zdr.store.holds import place_hold, release_hold
from zdr.store.partitions import partition_name, partitions_of
from zdr.store.purge import PURGE_LOCK_KEY, RECORD_TABLES, purge, shorten_retention
from zdr.store.tables import contents, exchanges, flagged_contents

TABLES = list(RECORD_TABLES.values())


def keys(engine: Engine, table: Any) -> set[Any]:
    with engine.connect() as conn:
        return set(conn.execute(select(table.c.id)).scalars())


def test_expired_unheld_records_of_every_class_go(engine: Engine) -> None:
    org = make_org(engine)
    kept, gone = {}, {}
    for table in TABLES:
        gone[table.name] = put_record(engine, table, org_id=org, exchange_id="ex-old",
                                      expires_at=NOW - timedelta(seconds=1))
        kept[table.name] = put_record(engine, table, org_id=org, exchange_id="ex-new",
                                      expires_at=NOW + timedelta(seconds=1))
    report = purge(engine, NOW)
    for table in TABLES:
        assert keys(engine, table) == {kept[table.name]}, table.name
    assert report.total == len(TABLES) and report.lag_seconds == 0.0


def test_until_deleted_artifacts_are_never_purged(engine: Engine) -> None:
    org = make_org(engine)
    table = RECORD_TABLES["feature_artifact"]
    key = put_record(engine, table, org_id=org, exchange_id="ex", expires_at=None)
    purge(engine, NOW + timedelta(days=10_000))
    assert keys(engine, table) == {key}


@pytest.mark.parametrize("scope", ["org", "workspace", "exchange"])
def test_held_records_survive_until_released(engine: Engine, scope: str) -> None:
    """A hold on the org, workspace or exchange keeps expired records; release frees them."""
    org = make_org(engine)
    ws = make_workspace(engine, org)
    for table in TABLES:
        put_record(engine, table, org_id=org, workspace_id=ws, exchange_id="ex-held",
                   expires_at=NOW - timedelta(days=3))
    with engine.begin() as conn:
        hold = place_hold(conn, kind="legal", org_id=org, reason="case", placed_by="legal1",
                          now=NOW, workspace_id=ws if scope == "workspace" else None,
                          exchange_id="ex-held" if scope == "exchange" else None)
    report = purge(engine, NOW)
    assert report.total == 0 and all(report.held_expired[k] == 1 for k in RECORD_TABLES)
    for table in TABLES:
        assert len(keys(engine, table)) == 1
    with engine.begin() as conn:
        release_hold(conn, hold.id, "legal1", NOW)
    assert purge(engine, NOW).total == len(TABLES)
    for table in TABLES:
        assert keys(engine, table) == set()


def test_hold_on_another_org_or_workspace_does_not_protect(engine: Engine) -> None:
    org, other = make_org(engine), make_org(engine)
    ws, ws2 = make_workspace(engine, org), make_workspace(engine, org)
    put_record(engine, contents, org_id=org, workspace_id=ws, exchange_id="ex",
               expires_at=NOW - timedelta(days=1))
    with engine.begin() as conn:
        place_hold(conn, kind="legal", org_id=other, reason="r", placed_by="u", now=NOW)
        place_hold(conn, kind="legal", org_id=org, workspace_id=ws2, reason="r", placed_by="u",
                   now=NOW)
        place_hold(conn, kind="legal", org_id=other, exchange_id="ex", reason="r",
                   placed_by="u", now=NOW)
    purge(engine, NOW)
    assert keys(engine, contents) == set()


def test_dry_run_counts_and_deletes_nothing(engine: Engine) -> None:
    """--dry-run reports what would go and the purge lag, and leaves every row."""
    org = make_org(engine)
    for i in range(3):
        put_record(engine, contents, org_id=org, exchange_id=f"ex{i}",
                   expires_at=NOW - timedelta(hours=2))
    report = purge(engine, NOW, dry_run=True)
    assert report.deleted["content"] == 3 and len(keys(engine, contents)) == 3
    assert report.lag_seconds == pytest.approx(7200)
    assert metrics.PURGE_LAG._value.get() == pytest.approx(7200)
    assert purge(engine, NOW).deleted["content"] == 3
    assert metrics.PURGE_LAG._value.get() == 0.0


def test_batches_and_progress(engine: Engine) -> None:
    """Deletes go in batches; progress reports the running count per record class."""
    org = make_org(engine)
    for i in range(7):
        put_record(engine, exchanges, org_id=org, exchange_id=f"ex{i}",
                   expires_at=NOW - timedelta(days=1))
    seen: list[tuple[str, int]] = []
    report = purge(engine, NOW, batch_size=3, progress=lambda c, n: seen.append((c, n)))
    assert report.deleted["metadata"] == 7
    assert [n for c, n in seen if c == "metadata"] == [3, 6, 7]


def test_postgres_drops_whole_expired_days_and_keeps_held_ones(engine: Engine) -> None:
    """PG: an expired day without held rows is dropped whole; a day with a held row stays (its
    unheld rows deleted); today's partition loses only its expired rows."""
    org = make_org(engine)
    day1, day2 = NOW - timedelta(days=3), NOW - timedelta(days=2)
    for i in range(5):
        put_record(engine, contents, org_id=org, exchange_id=f"a{i}", expires_at=day1)
        put_record(engine, flagged_contents, org_id=org, exchange_id=f"f{i}", expires_at=day1)
        put_record(engine, contents, org_id=org, exchange_id=f"b{i}", expires_at=day2)
    put_record(engine, contents, org_id=org, exchange_id="today-old",
               expires_at=NOW - timedelta(hours=1))
    today_new = put_record(engine, contents, org_id=org, exchange_id="today-new",
                           expires_at=NOW + timedelta(minutes=1))
    with engine.begin() as conn:
        place_hold(conn, kind="legal", org_id=org, exchange_id="b2", reason="r", placed_by="u",
                   now=NOW)
    dry = purge(engine, NOW, dry_run=True)
    assert dry.deleted["content"] == 10 and dry.deleted["flagged_content"] == 5
    report = purge(engine, NOW)
    assert sorted(dry.dropped_partitions) == sorted(report.dropped_partitions)
    with engine.connect() as conn:
        remaining = set(conn.execute(select(contents.c.exchange_id)).scalars())
        flagged_left = conn.execute(select(func.count()).select_from(flagged_contents)).scalar()
        parts = partitions_of(conn, "contents") if engine.dialect.name == "postgresql" else {}
    assert remaining == {"b2", "today-new"} and flagged_left == 0
    assert report.deleted["content"] == 10 and report.deleted["flagged_content"] == 5
    assert today_new in keys(engine, contents)
    if engine.dialect.name == "postgresql":
        assert sorted(report.dropped_partitions) == sorted(
            [partition_name("contents", day1.date()), partition_name("flagged_contents",
                                                                      day1.date())])
        assert day1.date() not in parts and day2.date() in parts and NOW.date() in parts
        with engine.connect() as conn:     # detached, then dropped: no table of that day is left
            left = conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = :n"),
                                {"n": partition_name("contents", day1.date())}).scalar()
        assert left == 0


def test_only_one_purger_at_a_time(engine: Engine) -> None:
    """PG: while another session holds the purge advisory lock, purge skips and deletes nothing."""
    org = make_org(engine)
    put_record(engine, contents, org_id=org, exchange_id="ex", expires_at=NOW - timedelta(days=1))
    if engine.dialect.name != "postgresql":
        assert purge(engine, NOW).total == 1
        return
    with engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"),
                             {"k": PURGE_LOCK_KEY}).scalar()
        report = purge(engine, NOW)
        assert report.skipped and report.total == 0 and len(keys(engine, contents)) == 1
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PURGE_LOCK_KEY})
        other.commit()
    assert purge(engine, NOW).total == 1


def test_shorten_retention_deletes_older_content_at_once(engine: Engine) -> None:
    """60 → 30 days: content older than 30 days goes now, the rest expires 30 days after it was
    written; a workspace override of 90 days and held rows are untouched."""
    org = make_org(engine, plan="enterprise", retention_days=60)
    ws_long = make_workspace(engine, org, override=90)
    old = put_record(engine, contents, org_id=org, exchange_id="old",
                     created_at=NOW - timedelta(days=40), expires_at=NOW + timedelta(days=20))
    recent = put_record(engine, contents, org_id=org, exchange_id="recent",
                        created_at=NOW - timedelta(days=10), expires_at=NOW + timedelta(days=50))
    long_ws = put_record(engine, contents, org_id=org, exchange_id="ws", workspace_id=ws_long,
                         created_at=NOW - timedelta(days=40), expires_at=NOW + timedelta(days=50))
    held_row = put_record(engine, contents, org_id=org, exchange_id="held",
                          created_at=NOW - timedelta(days=40), expires_at=NOW + timedelta(days=20))
    with engine.begin() as conn:
        place_hold(conn, kind="legal", org_id=org, exchange_id="held", reason="r", placed_by="u",
                   now=NOW)
    assert shorten_retention(engine, org, 30, NOW) == 1
    assert keys(engine, contents) == {recent, long_ws, held_row}
    assert old not in keys(engine, contents)
    with engine.connect() as conn:
        expiry = dict(conn.execute(select(contents.c.exchange_id, contents.c.expires_at)).all())
    assert expiry["recent"].date() == (NOW + timedelta(days=20)).date()
    assert expiry["ws"].date() == (NOW + timedelta(days=50)).date()


# --- the property -----------------------------------------------------------------------------
CLASSES = list(RECORD_TABLES)
record = st.tuples(
    st.sampled_from(CLASSES),
    st.integers(0, 1),                       # org
    st.integers(0, 2),                       # workspace (2 = none)
    st.integers(0, 5),                       # exchange
    st.one_of(st.none(), st.integers(-72, 72)),   # expiry, hours from NOW (None: until deleted)
)
hold = st.tuples(
    st.sampled_from(["org", "workspace", "exchange"]),
    st.integers(0, 1), st.integers(0, 1), st.integers(0, 5),
    st.booleans(),                           # released
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, max_size=25), holds=st.lists(hold, max_size=3),
       clocks=st.lists(st.integers(-48, 96), min_size=1, max_size=3))
def test_property_nothing_expired_survives_unless_held_nothing_held_is_deleted(
    engine: Engine, records: list[Any], holds: list[Any], clocks: list[int]
) -> None:
    reset(engine)
    orgs = [make_org(engine), make_org(engine)]
    spaces = [[make_workspace(engine, o), make_workspace(engine, o)] for o in orgs]
    rows, seen = [], set()
    for cls, o, w, e, hours in records:
        if cls != "feature_artifact" and (cls, o, e) in seen:
            continue                          # one row per exchange in the unique classes
        seen.add((cls, o, e))
        table = RECORD_TABLES[cls]
        exchange_id = f"ex{o}-{e}"
        expires = None if hours is None else NOW + timedelta(hours=hours)
        if cls != "feature_artifact" and expires is None:
            expires = NOW + timedelta(days=3650)
        ws = None if w == 2 else spaces[o][w]
        key = put_record(engine, table, org_id=orgs[o], workspace_id=ws, exchange_id=exchange_id,
                         expires_at=expires)
        rows.append((table, key, orgs[o], ws, exchange_id, expires))
    active = []
    with engine.begin() as conn:
        for scope, o, w, e, released in holds:
            h = place_hold(conn, kind="legal", org_id=orgs[o], reason="r", placed_by="u", now=NOW,
                           workspace_id=spaces[o][w] if scope == "workspace" else None,
                           exchange_id=f"ex{o}-{e}" if scope == "exchange" else None)
            if released:
                release_hold(conn, h.id, "u", NOW)
            else:
                active.append(h)

    def is_held(org: str, ws: str | None, exchange_id: str) -> bool:
        return any(h.org_id == org and (
            h.scope == "org" or (h.scope == "workspace" and h.workspace_id == ws)
            or (h.scope == "exchange" and h.exchange_id == exchange_id))
            for h in active)

    for hours in sorted(clocks):
        now = NOW + timedelta(hours=hours)
        purge(engine, now)
        for table in TABLES:
            survivors = keys(engine, table)
            expected = {key for t, key, org, ws, ex, exp in rows if t is table and (
                exp is None or exp > now or is_held(org, ws, ex))}
            assert survivors == expected, (table.name, now)
