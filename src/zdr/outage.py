"""Store outages answered alike on every surface, and the last line around the gateway.

When the database cannot be reached or used (PostgreSQL stopped or unreachable, the SQLite file
gone, unreadable, locked past its timeout, or the disk full), every route answers
`503 {"type": "error", "error": {"type": "api_error", "message": STORE_DOWN}}` — the Messages
routes (`zdr.gateway.app`, `zdr.gateway.ownership`), the admin API (`zdr.control.api`) and the
console (an HTML page, also 503). Nothing is answered as if it were stored: retained content is
committed before the last byte or the request fails (`zdr.gateway.relay`).

The store raises an outage as `zdr.errors.DatabaseUnavailable` (`zdr.store.failures` translates
the database's exceptions); what SQLAlchemy raises outside a statement (an exhausted pool) is
translated here by the same function. A database error's message can carry SQL, bound
parameters (a key's hash, an email address) or a server's reply, so only its type is logged,
with where it was raised (`location`), never the message or a traceback. The last line around
the whole app, `zdr.gateway.boundary`, answers whatever escapes it the same way (503 for an
outage, else 500), so the server never prints a traceback or answers `text/plain`.

    is_store_outage(error)   # -> bool
    error_json(error)        # (status, body): zdr.errors.render, after the store's translation
    outage_types()           # the database errors that may arrive untranslated, for handlers
    where(error)             # "zdr/gateway/ownership.py:202", for the log
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from zdr.errors import STORE_DOWN, UNEXPECTED, DatabaseUnavailable, StoreUnavailable, render

__all__ = ["STORE_DOWN", "UNEXPECTED", "as_tree", "error_json", "is_store_outage", "log_failure",
           "logged_type", "outage_types", "where"]
log = logging.getLogger("zdr.outage")


def outage_types() -> tuple[type[Exception], ...]:
    """Base classes of the database errors that may still reach a boundary untranslated
    (`zdr.store.failures`), for exception handlers."""
    from zdr.store.failures import untranslated_types

    return untranslated_types()


def as_tree(error: BaseException) -> BaseException:
    """`error` in the error tree where it is a store outage (`zdr.store.failures.translated`)."""
    if isinstance(error, StoreUnavailable):
        return error
    from zdr.store.failures import translated

    return translated(error)


def is_store_outage(error: BaseException) -> bool:
    """Whether `error` means the store cannot be reached or used right now (connection refused
    or dropped, file not openable, lock timeout, disk full or failing, pool exhausted)."""
    return isinstance(as_tree(error), StoreUnavailable)


def logged_type(error: BaseException) -> str:
    """The type to log for `error`: for a store outage, the database exception it stands for."""
    found = as_tree(error)
    if isinstance(found, DatabaseUnavailable):
        return found.driver_error
    return type(error).__name__


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
    log.warning("%s on %s: %s at %s", kind, surface, logged_type(error), where(error) or "?")


def error_json(error: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and API-format body for an error nothing else answered (`zdr.errors.render`)."""
    return render(as_tree(error))
