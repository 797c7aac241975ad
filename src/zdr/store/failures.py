"""The database's exceptions, translated into the error tree in this one place.

A store outage — PostgreSQL stopped or unreachable, a connection dropped, the SQLite file gone,
unreadable, locked past its timeout, the disk full or failing, the pool exhausted — becomes
`zdr.errors.DatabaseUnavailable`; nothing outside the store catches a driver's exception. An
error of a query or of the data (an integrity or programming error) is a bug and is left as it
is: the boundaries answer it as a 500.

    install(engine)          # every engine of `zdr.store.db.engine_for`: outages raised as
                             # DatabaseUnavailable, chained to the driver's exception
    translated(error)        # the same translation, for what SQLAlchemy raises outside a
                             # statement (pool timeout) and for driver-level writes
    untranslated_types()     # base classes of what may still need `translated` (for handlers)

A driver's message can carry SQL, bound parameters (a key's hash, an email address) or a
server's reply, so `DatabaseUnavailable` keeps only its type name (`driver_error`).
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from sqlalchemy import Engine, event, exc

from zdr.errors import DatabaseUnavailable, StoreUnavailable

LOCK_NOT_AVAILABLE = "55P03"      # PostgreSQL's SQLSTATE for a lock timeout


def untranslated_types() -> tuple[type[Exception], ...]:
    """Base classes of the database errors `translated` accepts. psycopg's only once something
    imported it (a PostgreSQL store): a SQLite deployment does not pay for importing it, and
    cannot raise its errors."""
    kinds: tuple[type[Exception], ...] = (exc.SQLAlchemyError, sqlite3.Error)
    psycopg = sys.modules.get("psycopg")
    return kinds if psycopg is None else (*kinds, psycopg.Error)


def _not_outages() -> tuple[type[Exception], ...]:
    """Errors of a query or of the data, not of the store: a bug to report as 500."""
    kinds: tuple[type[Exception], ...] = (
        exc.IntegrityError, exc.ProgrammingError, exc.DataError, exc.NotSupportedError,
        exc.ArgumentError, exc.NoResultFound, exc.MultipleResultsFound, exc.CompileError,
        exc.InvalidRequestError, sqlite3.IntegrityError, sqlite3.ProgrammingError,
        sqlite3.DataError, sqlite3.NotSupportedError)
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return kinds
    return (*kinds, psycopg.IntegrityError, psycopg.ProgrammingError, psycopg.DataError,
            psycopg.NotSupportedError)


def is_outage(error: BaseException) -> bool:
    """Whether a database error means the store cannot be reached or used right now."""
    return isinstance(error, untranslated_types()) and not isinstance(error, _not_outages())


def driver_error_name(error: BaseException) -> str:
    """The type name of the driver's exception under a SQLAlchemy wrapper (else of `error`)."""
    original = getattr(error, "orig", None)
    return type(original if isinstance(original, BaseException) else error).__name__


def translated(error: BaseException) -> BaseException:
    """`DatabaseUnavailable` for a store outage, with `error` as its cause; `error` itself
    otherwise (a member of the tree already, a query's own error, anything else)."""
    if isinstance(error, StoreUnavailable) or not is_outage(error):
        return error
    unavailable = DatabaseUnavailable(driver_error_name(error))
    unavailable.__cause__ = error
    return unavailable


def lock_timed_out(error: BaseException) -> bool:
    """Whether a translated outage was PostgreSQL's lock timeout (a sweep retries later)."""
    cause = error.__cause__
    return isinstance(error, DatabaseUnavailable) and getattr(cause, "sqlstate", None) == \
        LOCK_NOT_AVAILABLE


def install(engine: Engine) -> None:
    """Raise `DatabaseUnavailable` instead of an outage's `DBAPIError`, on every statement and
    connection attempt of `engine` (SQLAlchemy still invalidates a dropped connection). A
    failed pre-ping is left to SQLAlchemy, which then opens a new connection."""

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        wrapped = context.sqlalchemy_exception
        if wrapped is not None and not context.is_pre_ping and is_outage(wrapped):
            raise DatabaseUnavailable(driver_error_name(wrapped))
