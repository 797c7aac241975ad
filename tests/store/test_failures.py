"""`zdr.store.failures`: a dead database surfaces as the tree's `DatabaseUnavailable`, never as a
driver's exception, and never with the driver's text; a query's own error is left alone."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, exc, text

from zdr.errors import STORE_DOWN, DatabaseUnavailable
from zdr.store.db import engine_for
from zdr.store.failures import lock_timed_out, translated
from zdr.testing.postgres import PostgresServer
from zdr.testing.servers import free_port

CANARY = "canary-failures-9b2e"


def _assert_translated(raised: pytest.ExceptionInfo[DatabaseUnavailable]) -> None:
    """The tree's member, its message ours, nothing of the SQL, its parameters or the driver's
    text in what a boundary renders or logs (the driver's exception stays only as the cause)."""
    error = raised.value
    assert error.message == STORE_DOWN and error.status == 503
    assert CANARY not in str(error) and CANARY not in error.driver_error
    assert isinstance(error.__cause__, sqlite3.Error | psycopg.Error)
    assert error.driver_error == type(error.__cause__).__name__


def _sqlite_store(tmp_path: Path) -> tuple[Path, Engine]:
    path = tmp_path / "zdr.sqlite3"
    engine = engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v TEXT)"))
    return path, engine


def _replace_by_a_directory(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.mkdir()


def test_a_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    path, engine = _sqlite_store(tmp_path)
    engine.dispose()
    _replace_by_a_directory(path)
    with pytest.raises(DatabaseUnavailable) as raised, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": CANARY})
    _assert_translated(raised)


def test_a_pooled_sqlite_connection_whose_file_was_replaced(tmp_path: Path) -> None:
    path, engine = _sqlite_store(tmp_path)      # its connection stays in the pool
    _replace_by_a_directory(path)
    with pytest.raises(DatabaseUnavailable) as raised, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": CANARY})
    _assert_translated(raised)
    engine.dispose()


def test_a_postgres_server_that_does_not_answer() -> None:
    engine = engine_for(f"postgresql://zdr:{CANARY}@127.0.0.1:{free_port()}/zdr")
    with pytest.raises(DatabaseUnavailable) as raised, engine.connect() as conn:
        conn.execute(text("SELECT :v"), {"v": CANARY})
    _assert_translated(raised)
    engine.dispose()


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Engine:
    return engine_for(postgres_server.create_database(f"zdr_failures_{uuid.uuid4().hex[:8]}"))


def _terminate(engine: Engine, pid: int) -> None:
    """End a backend from another engine (not from a connection of `engine`'s pool)."""
    other = engine_for(engine.url.render_as_string(hide_password=False))
    with other.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_a_dropped_postgres_connection_then_recovery(pg: Engine) -> None:
    """The connection is dropped mid-transaction: that transaction fails as DatabaseUnavailable,
    the pool forgets the connection, and the next one works."""
    with pytest.raises(DatabaseUnavailable) as raised, pg.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(pg, pid)
        conn.execute(text("SELECT :v"), {"v": CANARY})
    _assert_translated(raised)
    with pg.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    pg.dispose()


def test_a_pooled_postgres_connection_that_died_is_replaced_unseen(pg: Engine) -> None:
    """A connection that died while idle in the pool fails its pre-ping: SQLAlchemy opens a new
    one, and the caller sees no error (the translation leaves the pre-ping alone)."""
    with pg.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate(pg, pid)
    with pg.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    pg.dispose()


def test_a_postgres_lock_timeout_is_told_apart(pg: Engine) -> None:
    """What the purge's partition detach waits for: a lock timeout is an outage it may skip."""
    with pg.begin() as conn:
        conn.execute(text("CREATE TABLE t (v TEXT)"))
    with pg.connect() as holder, holder.begin():
        holder.execute(text("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(DatabaseUnavailable) as raised, pg.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '50ms'"))
            conn.execute(text("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"))
    assert lock_timed_out(raised.value)
    _assert_translated(raised)
    pg.dispose()


def test_a_query_of_its_own_is_not_an_outage(tmp_path: Path) -> None:
    _, engine = _sqlite_store(tmp_path)
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(text("CREATE TABLE u (v TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO u VALUES ('a'), ('a')"))
    engine.dispose()


@pytest.mark.parametrize(("error", "outage"), [
    (exc.TimeoutError("QueuePool limit reached"), True),      # raised outside any statement
    (sqlite3.OperationalError("disk I/O error"), True),       # a driver-level write
    (psycopg.OperationalError("server closed the connection"), True),
    (sqlite3.IntegrityError("UNIQUE"), False),
    (ValueError(CANARY), False),
])
def test_what_the_store_translates_outside_a_statement(error: Exception, outage: bool) -> None:
    found = translated(error)
    assert isinstance(found, DatabaseUnavailable) is outage
    assert (found.__cause__ is error) if outage else (found is error)
