"""Metadata records as Merkle leaves, and an end user's erasure, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from evidence_world import START, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from zdr.proof import records
from zdr.proof.canonical import canonical
from zdr.proof.records import Period
from zdr.store.tables import contents, exchanges

PERIOD = Period(START - timedelta(hours=1), START + timedelta(days=1))


def rows(world: World, org: str) -> list[tuple[object, ...]]:
    with world.engine.connect() as conn:
        return list(records.stream_rows(conn, world.orgs[org], PERIOD))


def test_leaf_bytes_are_rfc8785_of_the_record_on_both_backends(backend_world: World) -> None:
    """The fast leaf encoding equals the `rfc8785` package's bytes for the same record, and the
    order is (started_at, id)."""
    w = backend_world
    w.org("acme")
    w.org("zeta", zdr=True)
    for i in range(4):
        w.exchange("acme", started=START + timedelta(seconds=i), user_id="ü-ser 😀")
        w.exchange("zeta", zdr=True, started=START + timedelta(seconds=i), flagged=i == 2,
                   features=frozenset({"code_execution"}) if i == 1 else frozenset())
    for org in ("acme", "zeta"):
        fetched = rows(w, org)
        assert len(fetched) == 4
        encode = records.LeafEncoder().leaf_data
        for row in fetched:
            assert encode(row) == canonical(records.normalize(row))
        started = [records.normalize(r)["started_at"] for r in fetched]
        assert started == sorted(started) and started[0].endswith("Z")


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1),
                         st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(decision=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
       features=st.lists(st.text(max_size=10), max_size=4),
       strings=st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=9, max_size=9),
       numbers=st.lists(st.one_of(st.none(), st.integers(0, 2**40)), min_size=5, max_size=5),
       flags=st.tuples(st.booleans(), st.booleans()))
def test_leaf_bytes_are_rfc8785_for_any_record(decision: dict[str, object], features: list[str],
                                               strings: list[str | None], numbers: list[int | None],
                                               flags: tuple[bool, bool]) -> None:
    import orjson

    values = dict(zip(("id", "org_id", "workspace_id", "key_id", "surface", "model", "outcome",
                       "zdr_state", "end_user"), strings, strict=True))
    values.update(zip(("status_code", "input_tokens", "output_tokens", "duration_ms",
                       "ttfb_ms"), numbers, strict=True))
    values.update(features=orjson.dumps(features).decode(),
                  decision=orjson.dumps(decision).decode(), stream=int(flags[0]),
                  misuse_exception=int(flags[1]), retention="30d", catalog_version="v",
                  started_at="2026-11-20 09:00:00.000001", expires_at="2026-12-20 09:00:00.000001")
    row = tuple(values[name] for name in records.RECORD_COLUMNS)
    assert records.LeafEncoder().leaf_data(row) == canonical(records.normalize(row))


def test_erasing_one_end_user_leaves_another_untouched(backend_world: World) -> None:
    w = backend_world
    w.org("acme")
    w.org("other")
    mine = [w.exchange("acme", started=START + timedelta(seconds=i), user_id="alice")
            for i in range(3)]
    theirs = [w.exchange("acme", started=START + timedelta(seconds=i), user_id="bob")
              for i in range(3)]
    anonymous = w.exchange("acme", user_id=None)
    elsewhere = w.exchange("other", user_id="alice")       # the same id in another org
    issued = w.plane.evidence.erase_end_user(w.operator, "acme", "alice")
    assert issued.payload["deleted"]["content"] == 3

    def content_of(meta: object) -> int:
        with w.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(
                contents.c.exchange_id == meta.exchange_id)).scalar_one())  # type: ignore[attr-defined]

    assert [content_of(m) for m in mine] == [0, 0, 0]
    assert [content_of(m) for m in theirs] == [1, 1, 1]
    assert content_of(anonymous) == content_of(elsewhere) == 1
    with w.engine.connect() as conn:
        linked = dict(conn.execute(select(exchanges.c.id, exchanges.c.end_user)).all())
    assert all(linked[m.exchange_id] is None for m in mine)
    assert all(linked[m.exchange_id] == w.end_user("bob") for m in theirs)
    assert linked[elsewhere.exchange_id] == w.end_user("alice")
    assert "alice" not in issued.document.decode()


def test_claude_codes_json_user_id_is_one_end_user_across_sessions() -> None:
    from zdr.end_users import EndUsers, identity

    one = '{"device_id":"d1","account_uuid":"acc-7","session_id":"s1"}'
    two = '{"device_id":"d1","account_uuid":"acc-7","session_id":"s2"}'
    assert identity(one) == identity(two) == identity("account:acc-7") == "account:acc-7"
    assert identity('{"device_id":"d9","session_id":"s"}') == "device:d9"
    assert identity("plain-user") == "plain-user"
    users = EndUsers(b"k" * 32)
    assert users.hash(one) == users.hash(two) != users.hash('{"device_id":"d2"}')
    assert users.of({"metadata": {"user_id": one}}) == users.hash("account:acc-7")
    assert users.of({"metadata": {"user_id": 7}}) is None and users.of(None) is None


def test_purged_records_are_counted_in_a_later_statement(backend_world: World) -> None:
    """Purge counts what it deletes (row batches on SQLite, whole day partitions on
    PostgreSQL) per org and creation day; a statement over the period reports them."""
    from zdr.store.purge import purge

    w = backend_world
    w.org("acme")
    w.org("other")
    for i in range(4):
        w.exchange("acme", started=START + timedelta(minutes=i))
    w.exchange("other", started=START)
    w.now = START + timedelta(days=45)
    report = purge(w.engine, w.now)
    assert report.deleted["content"] == 5
    counts = w.statement("acme").payload["records"]
    assert counts["content"] == {"written": 4, "purged": 4, "erased": 0, "held": 0,
                                 "under_hold": 0, "past_expiry_unheld": 0}
