"""Store outages: told apart from other failures in one place, answered alike on every surface.

When the database cannot be reached or used (PostgreSQL stopped or unreachable, the SQLite file
gone, unreadable, locked past its timeout, or the disk full), every route answers
`503 {"type": "error", "error": {"type": "api_error", "message": STORE_DOWN}}` — the Messages
routes (`zdr.gateway.app`, `zdr.gateway.ownership`), the admin API (`zdr.control.api`) and the
console (an HTML page, also 503). Nothing is answered as if it were stored: retained content is
committed before the last byte or the request fails (`zdr.gateway.relay`).

A store error's message can carry SQL, bound parameters (a key's hash, an email address) or a
server's reply, so only its type is logged, with where it was raised (`location`), never the
message or a traceback. The last line around the whole app, `zdr.gateway.boundary`, answers
whatever escapes it the same way (503 for an outage, else 500), so the server never prints a
traceback or answers `text/plain`.

    is_store_outage(error)   # -> bool
    outage_types()           # the base classes to register exception handlers for
    where(error)             # "zdr/gateway/ownership.py:202", for the log
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import PurePath
from typing import Any

from zdr.errors import StoreUnavailable, error_body

STORE_DOWN = ("The gateway's database is unavailable, so this request cannot be served; "
              "nothing was stored or changed. Retry shortly.")
UNEXPECTED = "The gateway failed to serve this request."
log = logging.getLogger("zdr.outage")


def outage_types() -> tuple[type[Exception], ...]:
    """Base classes of everything `is_store_outage` may accept (for exception handlers).
    psycopg's only once something imported it (a PostgreSQL store): a SQLite deployment does
    not pay for importing it, and cannot raise its errors."""
    from sqlalchemy.exc import SQLAlchemyError

    kinds: tuple[type[Exception], ...] = (StoreUnavailable, SQLAlchemyError, sqlite3.Error)
    psycopg = sys.modules.get("psycopg")
    return kinds if psycopg is None else (*kinds, psycopg.Error)


def _not_outages() -> tuple[type[Exception], ...]:
    """Errors of a query or of the data, not of the store: a bug to report as 500."""
    from sqlalchemy import exc

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


def is_store_outage(error: BaseException) -> bool:
    """Whether `error` means the store cannot be reached or used right now (connection refused
    or dropped, file not openable, lock timeout, disk full or failing, pool exhausted)."""
    if isinstance(error, StoreUnavailable):
        return True
    return isinstance(error, outage_types()) and not isinstance(error, _not_outages())


def where(error: BaseException) -> str:
    """File and line where `error` was raised, within this package if it passed through it."""
    found = ""
    trace = error.__traceback__
    while trace is not None:
        parts = PurePath(trace.tb_frame.f_code.co_filename).parts
        if "zdr" in parts:
            start = len(parts) - 1 - parts[::-1].index("zdr")
            found = "/".join(parts[start:]) + f":{trace.tb_lineno}"
        trace = trace.tb_next
    return found[-120:]


def log_failure(error: BaseException, surface: str) -> None:
    """One warning line: the error's type and location, never its message."""
    kind = "store unavailable" if is_store_outage(error) else "unexpected error"
    log.warning("%s on %s: %s at %s", kind, surface, type(error).__name__, where(error) or "?")


def error_json(error: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and API-format body for an error nothing else answered."""
    if is_store_outage(error):
        return 503, error_body(503, "api_error", STORE_DOWN)
    return 500, error_body(500, "api_error", UNEXPECTED)
