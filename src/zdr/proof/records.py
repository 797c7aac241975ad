"""One organization's metadata records of a period, streamed in a stable order, each in its
canonical form (the data of one Merkle leaf).

A metadata record is an `exchanges` row: ids, surface, model, feature names, status, token
counts, timings, the decision and the keyed hash of the end user — never content. Its canonical
form is the RFC 8785 JSON of every column (`RECORD_COLUMNS`), times as `…Z` instants:

    {"catalog_version":"…","decision":{…},"duration_ms":12,"end_user":null,…,"id":"req_…",…}

Order: `(started_at, id)`, ascending — the leaf index of a record is the number of the period's
records before it in that order. Rows come through the driver's cursor in batches of `BATCH`
(a server-side cursor on PostgreSQL), so a period of millions of records is never in memory.

Speed (bench/attest.py: a million records a minute is the target): the database hands over
times and JSON as text; a decision's (and a feature list's) canonical bytes are computed once
per distinct text — decisions repeat — with the `rfc8785` package, and spliced into the
record's bytes (`orjson.Fragment`); the record's other values are strings, small integers,
booleans and nulls, whose RFC 8785 form is what orjson writes with sorted keys
(tests/proof/test_records.py checks the bytes against `rfc8785` on both backends).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from zdr.proof.canonical import SAFE_INTEGER, canonical, instant, parse_instant
from zdr.store.db import datetime_binder, utc

RECORD_COLUMNS = (
    "id", "org_id", "workspace_id", "key_id", "surface", "model", "features", "stream",
    "status_code", "outcome", "zdr_state", "retention", "catalog_version", "decision",
    "misuse_exception", "input_tokens", "output_tokens", "started_at", "duration_ms",
    "ttfb_ms", "expires_at", "end_user",
)
RECORD_FORM = "zdr.metadata-record/v1"
ORDER = "started_at, id"
BATCH = 5000
CACHE_LIMIT = 4096
_JSON = ("features", "decision")
_BOOL = ("stream", "misuse_exception")
_TIME = ("started_at", "expires_at")
_INT = ("status_code", "input_tokens", "output_tokens", "duration_ms", "ttfb_ms")
_AT = {name: RECORD_COLUMNS.index(name) for name in RECORD_COLUMNS}


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if utc(self.until) <= utc(self.since):
            raise ValueError("the period must end after it starts")

    def as_json(self) -> dict[str, str]:
        return {"since": instant(self.since), "until": instant(self.until)}

    @classmethod
    def from_json(cls, value: dict[str, str]) -> Period:
        return cls(parse_instant(value["since"]), parse_instant(value["until"]))


# -- SQL, per backend: times and JSON as text ------------------------------------------------
def _select_list(dialect: str) -> str:
    if dialect == "postgresql":
        utc_text = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        parts = [f"{name}::text" if name in _JSON else utc_text.format(name) if name in _TIME
                 else name for name in RECORD_COLUMNS]
    else:
        parts = list(RECORD_COLUMNS)
    return ", ".join(parts)


def _query(dialect: str, extra: str = "") -> str:
    p = "%({})s" if dialect == "postgresql" else ":{}"
    where = (f"org_id = {p.format('org')} AND started_at >= {p.format('since')} "
             f"AND started_at < {p.format('until')}")
    return (f"SELECT {_select_list(dialect)} FROM exchanges "   # noqa: S608 - constants only
            f"WHERE {where}{extra.format(**{k: p.format(k) for k in ('at', 'id')})}")


def _params(dialect: str, org_id: str, period: Period) -> dict[str, Any]:
    bind = datetime_binder(dialect)
    return {"org": org_id, "since": bind(utc(period.since)), "until": bind(utc(period.until))}


def stream_rows(conn: Connection, org_id: str, period: Period) -> Iterator[tuple[Any, ...]]:
    """The period's rows of `org_id` in `(started_at, id)` order, as the driver returns them
    (`RECORD_COLUMNS`; times and JSON as text), fetched `BATCH` at a time."""
    dialect = conn.dialect.name
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    # PostgreSQL: a named (server-side) cursor, so fetchmany streams
    cursor = dbapi.cursor(name="zdr_attest_records") if dialect == "postgresql" \
        else dbapi.cursor()
    try:
        cursor.execute(_query(dialect) + f" ORDER BY {ORDER}", _params(dialect, org_id, period))
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                return
            yield from rows
    finally:
        cursor.close()


def _time_text(value: Any) -> str:
    if isinstance(value, datetime):
        return instant(value)
    text_value = str(value)      # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", UTC (zdr.store.db)
    if len(text_value) == 26 and text_value[10] == " ":
        return f"{text_value[:10]}T{text_value[11:]}Z"
    if text_value.endswith("Z"):
        return text_value
    return instant(datetime.fromisoformat(text_value))


def normalize(row: tuple[Any, ...]) -> dict[str, Any]:
    """A fetched row -> the record's JSON data (what a proof carries)."""
    record = dict(zip(RECORD_COLUMNS, row, strict=True))
    for name in _JSON:
        value = record[name]
        if isinstance(value, str | bytes):
            record[name] = orjson.loads(value)
    for name in _BOOL:
        record[name] = bool(record[name])
    for name in _TIME:
        record[name] = _time_text(record[name])
    return record


class LeafEncoder:
    """`leaf_data(row)`: the canonical bytes of a fetched row, equal to
    `canonical(normalize(row))`, with each distinct decision canonicalized once."""

    def __init__(self) -> None:
        self._fragments: dict[str, orjson.Fragment] = {}

    def _fragment(self, text: Any) -> orjson.Fragment:
        key = text if isinstance(text, str) else orjson.dumps(text).decode()
        found = self._fragments.get(key)
        if found is None:
            if len(self._fragments) >= CACHE_LIMIT:
                self._fragments.clear()
            found = orjson.Fragment(canonical(orjson.loads(key)))
            self._fragments[key] = found
        return found

    def leaf_data(self, row: tuple[Any, ...]) -> bytes:
        record = dict(zip(RECORD_COLUMNS, row, strict=True))
        for name in _INT:
            value = record[name]
            if value is not None and not -SAFE_INTEGER <= value <= SAFE_INTEGER:
                return canonical(normalize(row))        # raises NotCanonical, as RFC 8785 does
        record["features"] = self._fragment(record["features"])
        record["decision"] = self._fragment(record["decision"])
        record["stream"] = bool(record["stream"])
        record["misuse_exception"] = bool(record["misuse_exception"])
        record["started_at"] = _time_text(record["started_at"])
        record["expires_at"] = _time_text(record["expires_at"])
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def column(row: tuple[Any, ...], name: str) -> Any:
    return row[_AT[name]]


def find_record(conn: Connection, org_id: str, period: Period, exchange_id: str,
                ) -> tuple[int, tuple[Any, ...]] | None:
    """(leaf index, row) of one exchange in the period, or None."""
    dialect = conn.dialect.name
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    params = _params(dialect, org_id, period)
    cursor = dbapi.cursor()
    try:
        cursor.execute(_query(dialect, " AND id = {id}"), {**params, "id": exchange_id})
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(_query(dialect, " AND id = {id}").replace(
            f"SELECT {_select_list(dialect)}", "SELECT started_at", 1),
            {**params, "id": exchange_id})
        started = _first(cursor.fetchone())
        count_sql = _query(dialect, " AND (started_at < {at} OR (started_at = {at} AND "
                                    "id < {id}))").replace(
            f"SELECT {_select_list(dialect)}", "SELECT count(*)", 1)
        cursor.execute(count_sql, {**params, "at": started, "id": exchange_id})
        return int(_first(cursor.fetchone())), tuple(row)
    finally:
        cursor.close()


def _first(row: Any) -> Any:
    assert row is not None
    return row[0]
