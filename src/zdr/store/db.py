"""Engines and schema migrations, the same for SQLite and PostgreSQL.

Public names (the gateway, the control plane and the CLI rely on them):

- `engine_for(url)`: a sync SQLAlchemy 2 engine. SQLite: WAL mode, `busy_timeout`, foreign keys,
  `synchronous=FULL` (group commits make the fsync cheap), and write transactions that begin
  `IMMEDIATE` so several gateway worker processes can share one file without `SQLITE_BUSY`
  surprises; a connection whose file is no longer the one at the store's path (moved, deleted,
  replaced) fails its next checkout or transaction and is dropped, so nothing is written to
  a file that is not the store any more. PostgreSQL: psycopg 3 (`postgresql://` URLs are mapped to `postgresql+psycopg://`),
  connections that fail after 5 s when the server does not answer (`connect_timeout` in the URL
  overrides it).
  Use it from worker threads (asyncio callers: `asyncio.to_thread`).
- `store_exists(url)`: whether there is a store to open: any server URL, or an existing SQLite
  file (`zdr init` creates it; without one the gateway runs on in-memory ports).
- `read_only(conn)`: mark a SQLite connection so its transactions begin `DEFERRED` (readers never
  take the write lock); a no-op on PostgreSQL.
- `migrate(engine)`: upgrade to the newest revision shipped in `zdr/store/migrations`; raises
  `SchemaTooNew` if the database was migrated by newer code.
- `check_current(engine)`: `SchemaStatus` (current, head, up_to_date); raises `SchemaTooNew` too.
- `utc(dt)`: the UTC-aware form of a datetime read from either backend.
- `json_dumps(value)`: the engines' JSON serializer (orjson), for rows the writer binds itself.
- `datetime_binder(dialect_name)`: how a UTC datetime is bound on that backend, exactly as
  SQLAlchemy binds a `DateTime(timezone=True)` value there (SQLite: the text
  `YYYY-MM-DD HH:MM:SS.ffffff`; PostgreSQL/psycopg: the aware datetime itself).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from zdr.errors import DatabaseUnavailable, Misconfigured
from zdr.store import failures

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5
_READ_ONLY = "zdr_read_only"
_FILE = "zdr_sqlite_file"


class SchemaTooNew(Misconfigured):
    """The database carries a migration this code does not know: an operator must upgrade zdr."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC); PostgreSQL returns aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_dumps(value: Any) -> str:
    """JSON columns through orjson: the decision JSON is written once per exchange."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy's SQLite `DATETIME` stores for `value` (its fields as given: pass UTC)."""
    # `YYYY-MM-DD HH:MM:SS.ffffff` (4-digit year, always 6 digits of microseconds), in C;
    # [:26] drops the UTC offset of an aware value, as SQLAlchemy's format ignores tzinfo.
    return value.isoformat(" ", "microseconds")[:26]


def _as_is(value: datetime) -> datetime:
    return value


def datetime_binder(dialect_name: str) -> Callable[[datetime], Any]:
    """The bind form of a UTC datetime on `dialect_name` (see the module docstring)."""
    if dialect_name == "sqlite":
        return sqlite_datetime
    if dialect_name == "postgresql":
        return _as_is
    raise ValueError(f"unsupported database backend: {dialect_name}")


def engine_for(url: str, **kwargs: Any) -> Engine:
    """A sync engine for a SQLite file or a PostgreSQL server, configured for several writers."""
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_dumps)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        if "connect_timeout" not in parsed.query:   # an unreachable host fails in seconds
            kwargs.setdefault("connect_args", {}).setdefault("connect_timeout",
                                                             PG_CONNECT_TIMEOUT_S)
        engine = create_engine(parsed, **kwargs)
        failures.install(engine)
        return engine
    if parsed.get_backend_name() != "sqlite":
        raise ValueError(f"unsupported database backend: {parsed.get_backend_name()}")
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    file = None if parsed.database in (None, "", ":memory:") else Path(parsed.database)
    _configure_sqlite(engine, file)
    failures.install(engine)
    return engine


def store_exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    return bool(parsed.database) and Path(str(parsed.database)).exists()


def _file_identity(path: Path | None) -> tuple[int, int] | None:
    """Device and inode of the database file (None in memory); raises if it is gone."""
    if path is None:
        return None
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _configure_sqlite(engine: Engine, file: Path | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None   # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        record.info[_FILE] = _file_identity(file)

    @event.listens_for(engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if not _same_file(record.info):     # the pool drops it and opens the path anew
            raise DisconnectionError("the SQLite store's file was moved, deleted or replaced")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not _same_file(conn.info):
            raise DatabaseUnavailable("FileReplaced")
        mode = "DEFERRED" if conn.get_execution_options().get(_READ_ONLY) else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    def _same_file(info: dict[Any, Any]) -> bool:
        """A connection keeps the file it opened even once another (or nothing) is at its path:
        in WAL mode SQLite would go on reading and committing there, so data written after
        the store was moved, deleted or replaced would be lost with the old file. Such a
        connection is dropped (the pool opens the path anew: the new store, or an error)."""
        try:
            current = _file_identity(file)
        except OSError:
            current = None
        return current == info.get(_FILE)


def read_only(conn: Connection) -> Connection:
    """The same connection, whose SQLite transactions will not take the write lock."""
    return conn.execution_options(**{_READ_ONLY: True})


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migrations shipped")
    return head


def _status(conn: Connection) -> SchemaStatus:
    scripts = ScriptDirectory.from_config(_config())
    current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise SchemaTooNew(
            f"the database schema is at revision {current}, which this version of zdr-gateway "
            f"does not know (newest here: {head}); upgrade zdr-gateway, or point it at another "
            "database"
        )
    return SchemaStatus(current=current, head=head)


def check_current(engine: Engine) -> SchemaStatus:
    """Where the database stands against the migrations shipped with this code."""
    with engine.connect() as conn:
        return _status(read_only(conn))


def durability_warning(engine: Engine) -> str | None:
    """A warning when PostgreSQL may acknowledge a commit before it is on disk
    (`synchronous_commit` or `fsync` off): a crash would lose answers reported as stored."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        unsafe = [name for name in ("synchronous_commit", "fsync")
                  if conn.exec_driver_sql(f"SHOW {name}").scalar() == "off"]
    if not unsafe:
        return None
    return (f"PostgreSQL runs with {' and '.join(unsafe)} off: a crash of the database can lose "
            "retained content already answered as stored; turn it on for anything but tests")


def migrate(engine: Engine) -> SchemaStatus:
    """Upgrade a new or older database to head (idempotent). Refuses a newer database."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several instances may start at once: one migrates, the others wait for it.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724001)")
        status = _status(conn)
        if not status.up_to_date:
            command.upgrade(_config(conn), "head")
    return check_current(engine)
