"""One organization's metadata records of a period, streamed in a stable order, each in its
canonical form (the data of one Merkle leaf).

A metadata record is an `exchanges` row: ids, surface, model, feature names, status, token
counts, timings, the decision and the keyed hash of the end user — never content. Its canonical
form is the RFC 8785 JSON of every column (`RECORD_COLUMNS`), times as `…Z` instants:

    {"catalog_version":"…","decision":{…},"duration_ms":12,"end_user":null,…,"id":"req_…",…}

Order: `(started_at, id)`, ascending — the leaf index of a record is the number of the period's
records before it in that order. Rows are fetched in batches (`yield_per`: a server-side cursor
on PostgreSQL), so a period of millions of records is never in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, text

from zdr.proof.canonical import canonical_record, instant, parse_instant
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
_JSON = ("features", "decision")
_BOOL = ("stream", "misuse_exception")
_TIME = ("started_at", "expires_at")

_IN_PERIOD = "org_id = :org AND started_at >= :since AND started_at < :until"


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


def _params(conn: Connection, org_id: str, period: Period) -> dict[str, Any]:
    bind = datetime_binder(conn.dialect.name)
    return {"org": org_id, "since": bind(utc(period.since)), "until": bind(utc(period.until))}


def _time_text(value: Any) -> str:
    if isinstance(value, datetime):
        return instant(value)
    # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", always UTC (zdr.store.db.sqlite_datetime)
    text_value = str(value)
    if len(text_value) == 26 and text_value[10] == " ":
        return f"{text_value[:10]}T{text_value[11:]}Z"
    return instant(datetime.fromisoformat(text_value))


def normalize(row: Any) -> dict[str, Any]:
    """A row as fetched (either backend) -> the record's JSON data."""
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


def stream_records(conn: Connection, org_id: str, period: Period) -> Iterator[dict[str, Any]]:
    """The period's metadata records of `org_id`, in `(started_at, id)` order, as JSON data."""
    query = text(f"SELECT {', '.join(RECORD_COLUMNS)} FROM exchanges "   # noqa: S608 - constants
                 f"WHERE {_IN_PERIOD} ORDER BY {ORDER}")
    result = conn.execution_options(yield_per=BATCH).execute(query, _params(conn, org_id, period))
    for row in result:
        yield normalize(row)


def leaf_data(record: dict[str, Any]) -> bytes:
    """The Merkle leaf data of a record: its canonical JSON."""
    return canonical_record(record)


def find_record(conn: Connection, org_id: str, period: Period, exchange_id: str,
                ) -> tuple[int, dict[str, Any]] | None:
    """(leaf index, record) of one exchange in the period, or None."""
    params = _params(conn, org_id, period)
    row = conn.execute(text(f"SELECT {', '.join(RECORD_COLUMNS)} FROM exchanges "  # noqa: S608
                            f"WHERE {_IN_PERIOD} AND id = :id"), {**params, "id": exchange_id}
                       ).first()
    if row is None:
        return None
    started = row[RECORD_COLUMNS.index("started_at")]
    before = conn.execute(text(
        f"SELECT count(*) FROM exchanges WHERE {_IN_PERIOD} "   # noqa: S608 - constants
        "AND (started_at < :at OR (started_at = :at AND id < :id))"),
        {**params, "at": started, "id": exchange_id}).scalar_one()
    return int(before), normalize(row)
