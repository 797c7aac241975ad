"""`zdr.outage`: which errors are store outages; `zdr.gateway.boundary`: the last line around the
gateway (API-format answer, log line by type and place, never re-raised)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc

from zdr.errors import StoreUnavailable
from zdr.gateway.boundary import ErrorBoundary, surface_of
from zdr.observability import make_logger
from zdr.outage import STORE_DOWN, is_store_outage, where
from zdr.testing.logcapture import CapturedLines

CANARY = "canary-outage-5d1e"


def _wrapped(kind: type[exc.DBAPIError], driver_error: Exception) -> exc.DBAPIError:
    return kind(f"SELECT '{CANARY}'", {"p": CANARY}, driver_error)


@pytest.mark.parametrize(("error", "outage"), [
    (StoreUnavailable("queue full"), True),                                     # our own
    (_wrapped(exc.OperationalError, psycopg.OperationalError("refused")), True),  # PG down
    (_wrapped(exc.OperationalError, sqlite3.OperationalError("unable to open")), True),
    (_wrapped(exc.InterfaceError, psycopg.InterfaceError("closed")), True),    # dropped
    (_wrapped(exc.DatabaseError, sqlite3.DatabaseError("not a database")), True),
    (exc.DisconnectionError("file replaced"), True),                           # our SQLite check
    (exc.TimeoutError("pool exhausted"), True),
    (sqlite3.OperationalError("disk I/O error"), True),                        # raw driver
    (psycopg.OperationalError("server closed the connection"), True),
    (_wrapped(exc.IntegrityError, sqlite3.IntegrityError("UNIQUE")), False),   # a bug: 500
    (_wrapped(exc.ProgrammingError, psycopg.ProgrammingError("syntax")), False),
    (exc.NoResultFound("none"), False),
    (ValueError("anything else"), False),
])
def test_which_errors_are_store_outages(error: Exception, outage: bool) -> None:
    assert is_store_outage(error) is outage


def test_where_names_the_innermost_place_in_the_package() -> None:
    from zdr.store.db import engine_for

    try:
        engine_for("mysql://nowhere/db")
    except ValueError as error:
        assert where(error).startswith("zdr/store/db.py:")


@pytest.mark.parametrize(("path", "surface"), [
    ("/v1/messages", "api"), ("/admin/v1/orgs", "admin_api"), ("/console/orgs", "console"),
    (f"/{CANARY}", "other"),
])
def test_surfaces_come_from_a_closed_set(path: str, surface: str) -> None:
    assert surface_of(path) == surface


class _Failing:
    def __init__(self, error: Exception, *, after_start: bool = False) -> None:
        self.error, self.after_start = error, after_start

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise self.error


async def _call(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and any(
                m["type"] == "http.response.start" for m in sent):
            raise RuntimeError("the response has already started")
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await app({"type": "http", "path": f"/v1/files/{CANARY}", "method": "GET", "headers": []},
              receive, send)
    return sent


@pytest.mark.parametrize(("error", "status", "event"), [
    (_wrapped(exc.OperationalError, psycopg.OperationalError(CANARY)), 503, "store_unavailable"),
    (KeyError(CANARY), 500, "unhandled_error"),
])
async def test_the_boundary_answers_in_the_api_format_and_logs_the_type_only(
        error: Exception, status: int, event: str) -> None:
    lines = CapturedLines()
    sent = await _call(ErrorBoundary(_Failing(error), make_logger(lines)))
    assert sent[0]["status"] == status
    body = sent[1]["body"].decode()
    assert '"type":"error"' in body and '"api_error"' in body and CANARY not in body
    assert (STORE_DOWN in body) is (status == 503)
    [record] = lines.events(event)
    assert record["error_type"] == type(error).__name__ and record["surface"] == "api"
    assert record["location"].startswith("zdr/gateway/boundary.py:") and CANARY not in lines.text()


async def test_after_the_response_started_the_boundary_leaves_it_unfinished() -> None:
    lines = CapturedLines()
    app = ErrorBoundary(_Failing(StoreUnavailable(CANARY), after_start=True), make_logger(lines))
    sent = await _call(app)         # no exception escapes, no clean end of the body is sent
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert lines.events("store_unavailable") and CANARY not in lines.text()


async def test_lifespan_errors_are_not_swallowed() -> None:
    app = ErrorBoundary(_Failing(RuntimeError("boom")), make_logger(CapturedLines()))
    with pytest.raises(RuntimeError):
        await app({"type": "lifespan"}, None, None)
