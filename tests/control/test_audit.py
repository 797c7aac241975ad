"""The audit chain: one entry per action, keyed, verifiable, tamper-evident, never forked."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from control_world import CHAIN_KEY, World, fast_engine
from sqlalchemy import Engine, text

from zdr.control import audit
from zdr.control.roles import system_actor
from zdr.store.db import engine_for, migrate
from zdr.store.tables import audit_log

THREADS, PER_THREAD = 4, 10


def grow(world: World, n: int) -> None:
    for i in range(n):
        world.plane.workspaces.create(world.operator, "acme", f"ws-{i}")


def check(world: World, expect_head: str | None = None) -> audit.ChainReport:
    """What `zdr audit verify` reports: the keyed chain against every stored checkpoint."""
    return world.plane.audit.verify(world.operator, expect_head)


def test_each_action_appends_exactly_one_linked_entry(world: World) -> None:
    """An action adds one entry whose prev_hash is the old head; the chain verifies."""
    before = check(world)
    world.plane.arrangements.request_zdr(world.people["org_owner"], "acme", "contract")
    after = check(world)
    assert after.ok and after.entries == before.entries + 1
    [entry] = world.plane.audit.list(world.operator, after_seq=before.entries)
    assert entry.prev_hash == before.head and entry.hash == after.head
    assert (entry.actor, entry.role, entry.action) == ("org-owner@people.example", "org_owner",
                                                       "zdr.request")
    assert entry.before == {"zdr_status": "none"} and entry.after == {"zdr_status": "requested"}


def test_a_refused_action_appends_nothing(world: World) -> None:
    before = check(world).entries
    with pytest.raises(Exception, match="permission"):
        world.plane.arrangements.approve_zdr(world.people["org_owner"], "acme")
    assert check(world).entries == before


def test_an_edited_entry_is_named(world: World) -> None:
    grow(world, 5)
    with world.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 7)
                     .values(after={"name": "forged"}))
    report = check(world)
    assert (report.ok, report.problem, report.seq) == (False, "edited", 7)
    assert "entry 7" in report.message


def test_an_edited_entry_with_a_recomputed_hash_is_named(world: World) -> None:
    """Rewriting an entry and its own link (as plain SHA-256) still fails its keyed link."""
    grow(world, 5)
    with world.engine.begin() as conn:
        row = dict(conn.execute(audit_log.select().where(audit_log.c.seq == 6)).one()._mapping)
        row["actor"] = "someone-else@example.com"
        conn.execute(audit_log.update().where(audit_log.c.seq == 6)
                     .values(actor=row["actor"], hash=audit.legacy_hash(row)))
    report = check(world)
    assert (report.ok, report.problem, report.seq) == (False, "edited", 6)


def test_a_deleted_entry_is_named(world: World) -> None:
    grow(world, 5)
    with world.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 9))
    report = check(world)
    assert (report.ok, report.problem, report.seq) == (False, "deleted", 9)


def test_reordered_entries_are_named(world: World) -> None:
    grow(world, 5)
    with world.engine.begin() as conn:   # swap entries 8 and 9
        conn.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 8"))
        conn.execute(text("UPDATE audit_log SET seq = 8 WHERE seq = 9"))
        conn.execute(text("UPDATE audit_log SET seq = 9 WHERE seq = -1"))
    report = check(world)
    assert (report.ok, report.problem, report.seq) == (False, "reordered", 8)


def test_deleting_the_newest_entries_needs_the_remembered_head(world: World) -> None:
    """A truncated chain still links up; the head printed by an earlier verify catches it."""
    grow(world, 3)
    before = check(world)
    head = f"{before.entries}:{before.head}"
    with world.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == before.entries))
    assert check(world).ok
    report = check(world, expect_head=head)
    assert (report.ok, report.problem) == (False, "rewritten")
    assert "rewritten or deleted after entry" in report.message
    assert check(world, expect_head=check(world).head).ok


def run_in_threads(work: Callable[[int], None], count: int) -> None:
    """`work(n)` in `count` threads at once; fails with what any of them raised."""
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def hammer(engine: Engine, appenders: int = THREADS, each: int = PER_THREAD) -> None:
    """Several threads append at once, each through its own serialized transactions."""
    start = threading.Barrier(appenders)

    def append(n: int) -> None:
        start.wait(timeout=30)
        for i in range(each):
            with audit.serialized(engine) as conn:
                audit.append(conn, CHAIN_KEY, actor=f"thread-{n}", role="provider_admin",
                             org_id=None, action="test.append", target=str(i))

    run_in_threads(append, appenders)


def test_concurrent_appenders_on_sqlite_keep_one_chain(world: World) -> None:
    before = check(world).entries
    hammer(world.engine)
    report = check(world)
    assert report.ok, report.message
    assert report.entries == before + THREADS * PER_THREAD


def test_concurrent_services_on_sqlite_keep_one_chain(world: World) -> None:
    """Whole actions from several threads (each with its own engine, like worker processes)."""
    before = check(world).entries
    url = str(world.engine.url)

    def create(n: int) -> None:
        from control_world import make_plane

        engine = fast_engine(url.removeprefix("sqlite:///"))
        plane = make_plane(engine, world.clock)
        try:
            for i in range(5):
                plane.workspaces.create(system_actor(), "acme", f"t{n}-{i}")
        finally:
            engine.dispose()

    run_in_threads(create, THREADS)
    report = check(world)
    assert report.ok and report.entries == before + THREADS * 5


@pytest.fixture(scope="module")
def pg_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    server = request.getfixturevalue("postgres_server")
    name = f"zdr_control_audit_{uuid.uuid4().hex[:8]}"
    engine = engine_for(server.create_database(name))
    migrate(engine)
    yield engine
    engine.dispose()
    server.drop_database(name)


@pytest.mark.postgres
def test_concurrent_appenders_on_postgres_keep_one_chain(pg_engine: Engine) -> None:
    """The advisory lock serializes appenders across connections: one chain, no gap, no fork."""
    with pg_engine.connect() as conn:
        before = audit.count(conn)
    hammer(pg_engine)
    with pg_engine.connect() as conn:
        report = audit.verify_chain(conn, CHAIN_KEY)
        count = audit.count(conn)
    assert report.ok, report.message
    assert report.entries == count == before + THREADS * PER_THREAD


@pytest.mark.postgres
def test_control_services_on_postgres(pg_engine: Engine) -> None:
    """The services run on PostgreSQL too; concurrent actions keep one verifiable chain."""
    from control_world import Clock, make_plane

    plane = make_plane(pg_engine, Clock())
    op = system_actor()
    plane.orgs.create(op, "pg-acme", "enterprise")
    plane.accounts.create_user(op, "rev@pg.example", provider_roles=["reviewer"])
    plane.arrangements.request_zdr(op, "pg-acme", "contract")
    approved = plane.arrangements.approve_zdr(
        plane.accounts.actor_for_email("rev@pg.example"), "pg-acme")
    assert approved.zdr_in_force
    plane.arrangements.accept_baa(op, "pg-acme", "2026-01")
    plane.keys.create(op, "pg-acme")

    def create(n: int) -> None:
        for i in range(5):
            plane.workspaces.create(op, "pg-acme", f"pg-{n}-{i}")

    run_in_threads(create, THREADS)
    report = plane.audit.verify(op)
    assert report.ok, report.message
    assert [e.action for e in plane.audit.list(op, "pg-acme", limit=3)] == [
        "org.create", "zdr.request", "zdr.approve"]
