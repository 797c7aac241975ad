"""What the store's write path stores, column by column, against the schema (`zdr.store.tables`).

The writer binds its rows itself (tuples in the backend's bind form, driver-level statements), so
nothing of SQLAlchemy's column types stands between it and the database. These tests write
batches covering every row kind and rule of the writer (repeats, later metadata wins, final
updates, flagged content, feature artifacts, truncation, odd timestamps) on both backends and
read every column back twice: in its stored form (SQLite: the value's storage class, `typeof`,
and its text; PostgreSQL: the column's text form) against the schema's type, length and
nullability, and through SQLAlchemy Core (what every reader uses) against the value the exchange
and its decision call for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    select,
)
from store_data import classification, decision, make_org, meta
from store_data import content as content_of

from zdr.errors import DatabaseUnavailable, StoreUnavailable
from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.store import records
from zdr.store.content import pack, unpack
from zdr.store.crypto import Keyring, Sealed, record_aad
from zdr.store.db import engine_for, migrate, sqlite_datetime, utc
from zdr.store.exchanges import SqlExchangeSink, _Job
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
)

CLOCK = datetime(2026, 11, 25, 12, 0, 7, 123456, tzinfo=UTC)
# Each writer table, the columns the writer binds, and the column rows are sorted by.
WRITTEN: list[tuple[Table, tuple[str, ...], str]] = [
    (exchanges, records.EXCHANGE_COLUMNS, "id"),
    (contents, records.CONTENT_COLUMNS, "exchange_id"),
    (classifier_results, records.CLASSIFIER_COLUMNS, "exchange_id"),
    (flagged_contents, records.FLAGGED_COLUMNS, "exchange_id"),
    (feature_artifacts, records.ARTIFACT_COLUMNS, "exchange_id"),
]
SQLITE_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
JSON_KINDS = {"features": list, "decision": dict, "rule_ids": list, "scores": dict,
              "labels": dict, "categories": list}


# -- the batches ---------------------------------------------------------------------------------
def sealed(tag: str) -> Sealed:
    return Sealed(nonce=(tag.encode() * 12)[:12], ciphertext=b"\x00\xffcipher-" + tag.encode())


@dataclasses.dataclass
class Written:
    """The batches, and what they must leave per exchange (final metadata, content, …)."""

    batches: list[list[_Job]]
    metas: dict[str, ExchangeMetadata]          # the metadata the row must hold at the end
    contents: dict[str, Sealed]
    results: dict[str, ClassificationRecord]
    flagged: dict[str, Sealed]


def batches(org: str) -> Written:
    zdr, standard = decision(zdr=True), decision()
    forever = decision(retention_days=None, override=None)
    with_files = decision(features=frozenset({"files"}))
    plus2 = timezone(timedelta(hours=2))
    a = meta(org, zdr, workspace_id="ws-a")
    b = dataclasses.replace(meta(org, standard), started_at=datetime(2026, 11, 25, 14, 30, 1,
                                                                     999999, tzinfo=plus2),
                            key_id="key-1", stream=True, ttfb_ms=3)
    c = dataclasses.replace(meta(org, zdr), outcome="client_disconnected" + "x" * 40,
                            input_tokens=None, output_tokens=None, duration_ms=None)
    d = meta(org, with_files, workspace_id="ws-d")
    e = dataclasses.replace(meta(org, forever), started_at=datetime(2026, 1, 2, 3, 4, 5))
    f = meta(org, standard)
    g = meta(org, with_files, workspace_id="ws-g")       # only ever a final update
    flagged_a: ClassificationRecord = dataclasses.replace(
        classification(a, flagged=True), not_scored=("size_limit",))    # partly scored
    calm_c = dataclasses.replace(classification(c, flagged=False), scores={"violence": 1},
                                 labels={"violence": 0, "self_harm": 0},  # type: ignore[dict-item]
                                 not_scored=("media_type",))
    later_b = dataclasses.replace(b, duration_ms=987, output_tokens=77, outcome="ok")
    last_b = dataclasses.replace(later_b, ttfb_ms=4)
    last_f = dataclasses.replace(f, status_code=499)
    jobs = [
        [_Job(a), _Job(c), _Job(a), _Job(d), _Job(d)],                   # metadata, repeats
        [_Job(b, content=sealed("b")), _Job(e, content=sealed("e")),     # retained
         _Job(f, content=sealed("f")), _Job(f, content=sealed("f2"))],
        [_Job(a, classification=flagged_a, flagged=sealed("fa")),        # classifier + flagged
         _Job(c, classification=calm_c), _Job(c, classification=calm_c)],
        [_Job(later_b, final=True), _Job(last_b, final=True), _Job(last_f, final=True),
         _Job(d), _Job(g, final=True)],
    ]
    return Written(
        jobs, {m.exchange_id: m for m in (a, last_b, c, d, e, last_f, g)},
        {b.exchange_id: sealed("b"), e.exchange_id: sealed("e"), f.exchange_id: sealed("f")},
        {a.exchange_id: flagged_a, c.exchange_id: calm_c}, {a.exchange_id: sealed("fa")})


def commit_all(sink: SqlExchangeSink, jobs: Sequence[Sequence[_Job]]) -> None:
    for batch in jobs:
        sink._commit(batch)


# -- reading back --------------------------------------------------------------------------------
def stored_forms(engine: Engine) -> dict[str, list[dict[str, tuple[Any, str]]]]:
    """Every writer table as stored: column -> (value, storage class) on SQLite, (text form,
    the column's type) on PostgreSQL."""
    out: dict[str, list[dict[str, tuple[Any, str]]]] = {}
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        for table, _, order in WRITTEN:
            names = [c.name for c in table.columns]
            if sqlite:
                cols = ", ".join(f'"{n}", typeof("{n}")' for n in names)
            else:
                cols = ", ".join(f'"{n}"::text, pg_typeof("{n}")::text' for n in names)
            rows = conn.exec_driver_sql(
                f'SELECT {cols} FROM "{table.name}" ORDER BY "{order}"').all()
            out[table.name] = [{n: (row[2 * i], row[2 * i + 1]) for i, n in enumerate(names)}
                               for row in rows]
    return out


def core_rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def assert_schema_types(engine: Engine) -> None:
    """Each stored value has its column's type, length and nullability."""
    sqlite = engine.dialect.name == "sqlite"
    pg_types = {String: "character varying", Integer: "integer", Boolean: "boolean",
                DateTime: "timestamp with time zone", JSON: "json", LargeBinary: "bytea"}
    for table, _, _ in WRITTEN:
        for row in stored_forms(engine)[table.name]:
            for column in table.columns:
                value, kind = row[column.name]
                where = f"{table.name}.{column.name}"
                if value is None:
                    assert column.nullable, f"{where} is NULL"
                    continue
                ctype = column.type
                if not sqlite:
                    base = next(t for t in pg_types if isinstance(ctype, t))
                    expected = pg_types[base]
                    if column.name == "id" and table is not exchanges:
                        expected = "bigint"
                    assert kind == expected, (where, kind)
                    if isinstance(ctype, JSON):
                        assert isinstance(json.loads(value), JSON_KINDS[column.name]), where
                    if isinstance(ctype, String) and ctype.length:
                        assert len(value) <= ctype.length, where
                    continue
                if isinstance(ctype, Boolean):
                    assert (kind, value) in (("integer", 0), ("integer", 1)), (where, value)
                elif isinstance(ctype, Integer):
                    assert kind == "integer", (where, kind)
                elif isinstance(ctype, DateTime):
                    assert kind == "text" and SQLITE_DATETIME.fullmatch(value), (where, value)
                elif isinstance(ctype, JSON):
                    assert kind == "text", where
                    assert isinstance(json.loads(value), JSON_KINDS[column.name]), where
                elif isinstance(ctype, LargeBinary):
                    assert kind == "blob", (where, kind)
                elif isinstance(ctype, String):
                    assert kind == "text", (where, kind)
                    assert ctype.length is None or len(value) <= ctype.length, where
                else:
                    raise AssertionError(f"{where}: a type this test does not know")


def expiry(m: ExchangeMetadata, record_class: str) -> datetime:
    days = m.decision.keep[record_class].days
    return records.FOREVER if days is None else utc(m.started_at) + timedelta(days=days)


def decision_json(m: ExchangeMetadata) -> Any:
    return orjson.loads(orjson.dumps(m.decision.as_json(), option=orjson.OPT_NON_STR_KEYS))


def assert_values(engine: Engine, written: Written, at: datetime) -> None:
    """Read through Core, every column holds what the exchange and its decision call for."""
    rules = lambda m: [hit.id for hit in m.decision.rules]  # noqa: E731
    stored = {row["id"]: row for row in core_rows(engine, exchanges)}
    assert set(stored) == set(written.metas)
    for exchange_id, m in written.metas.items():
        d = m.decision
        row = stored[exchange_id]
        assert {**row, "started_at": utc(row["started_at"]),
                "expires_at": utc(row["expires_at"])} == {
            "id": exchange_id, "org_id": m.org_id, "workspace_id": m.workspace_id,
            "key_id": m.key_id, "surface": d.surface, "model": d.model,
            "features": list(d.features), "stream": m.stream, "status_code": m.status_code,
            "outcome": m.outcome[:30], "zdr_state": d.zdr, "retention": d.retention_label,
            "catalog_version": d.catalog_version, "decision": decision_json(m),
            "misuse_exception": exchange_id in written.flagged,
            "input_tokens": m.input_tokens, "output_tokens": m.output_tokens,
            "started_at": utc(m.started_at), "duration_ms": m.duration_ms, "ttfb_ms": m.ttfb_ms,
            "expires_at": expiry(m, "metadata"), "end_user": m.end_user}, exchange_id
    for row in core_rows(engine, contents):
        m = written.metas[row.pop("exchange_id")]
        assert row.pop("id") is not None
        assert {**row, "created_at": utc(row["created_at"]),
                "expires_at": utc(row["expires_at"])} == {
            "org_id": m.org_id, "workspace_id": m.workspace_id,
            "nonce": written.contents[m.exchange_id].nonce,
            "ciphertext": written.contents[m.exchange_id].ciphertext, "rule_ids": rules(m),
            "created_at": at, "expires_at": expiry(m, "content")}
    assert len(core_rows(engine, contents)) == len(written.contents)
    results = core_rows(engine, classifier_results)
    assert len(results) == len(written.results)
    for row in results:
        m = written.metas[row["exchange_id"]]
        result = written.results[m.exchange_id]
        assert row["id"] is not None
        labels = {k: bool(v) for k, v in result.labels.items()}
        labels.update({f"not_scored:{reason}": True for reason in result.not_scored})
        assert {k: v for k, v in row.items() if k != "id"} | {
            "created_at": utc(row["created_at"]), "expires_at": utc(row["expires_at"])} == {
            "exchange_id": m.exchange_id, "org_id": m.org_id, "workspace_id": m.workspace_id,
            "classifier": result.classifier, "classifier_version": result.classifier_version,
            "flagged": result.flagged,
            "scores": {k: float(v) for k, v in result.scores.items()}, "labels": labels,
            "sampled_out": False, "created_at": at, "expires_at": expiry(m, "classifier_result")}
    flagged = core_rows(engine, flagged_contents)
    assert len(flagged) == len(written.flagged)
    for row in flagged:
        m = written.metas[row["exchange_id"]]
        result = written.results[m.exchange_id]
        box = written.flagged[m.exchange_id]
        assert row["nonce"] == box.nonce and row["ciphertext"] == box.ciphertext
        # categories: the labels set, never a `not_scored:` marker
        assert row["categories"] == sorted(k for k, v in result.labels.items() if v)
        assert row["rule_ids"] == rules(m) and utc(row["created_at"]) == at
        assert utc(row["expires_at"]) == expiry(m, "flagged_content")
    artifacts = core_rows(engine, feature_artifacts)
    want = sorted((m.exchange_id, a.feature, a.kind, m.workspace_id,
                   None if a.days is None else utc(m.started_at) + timedelta(days=a.days))
                  for m in written.metas.values() for a in m.decision.artifacts)
    assert want, "the batches name no artifact"
    assert sorted((r["exchange_id"], r["feature"], r["kind"], r["workspace_id"],
                   None if r["expires_at"] is None else utc(r["expires_at"]))
                  for r in artifacts) == want
    assert all(utc(r["created_at"]) == at for r in artifacts)


# -- the tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("single", [False, True], ids=["batches", "one-job-per-commit"])
def test_every_column_written_has_the_schemas_type_and_the_exchanges_value(
    engine: Engine, keyring: Keyring, single: bool
) -> None:
    written = batches(make_org(engine))
    jobs = written.batches
    if single:
        jobs = [[job] for batch in jobs for job in batch]
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    commit_all(sink, jobs)
    sink.close()
    assert {name: len(rows) for name, rows in stored_forms(engine).items()} == {
        "exchanges": 7, "contents": 3, "classifier_results": 2, "flagged_contents": 1,
        "feature_artifacts": 2}
    assert_schema_types(engine)
    assert_values(engine, written, CLOCK)


def test_the_writer_binds_every_column_but_the_row_ids() -> None:
    """Driver-level statements skip SQLAlchemy's column defaults: every column with one is
    written explicitly, and the only columns left out are the tables' serial row ids."""
    for table, columns, _ in WRITTEN:
        assert len(set(columns)) == len(columns), table.name
        left_out = set(table.c.keys()) - set(columns)
        assert left_out == (set() if table is exchanges else {"id"}), table.name
        assert table.c.id.autoincrement is True or table is exchanges
        for column in table.columns:
            if column.default is not None or column.server_default is not None:
                assert column.name in columns, f"{table.name}.{column.name}"


def test_defaults_are_stored_as_the_schema_gives_them(engine: Engine, keyring: Keyring) -> None:
    """An exchange that says nothing of them: not streamed, no misuse exception, not sampled
    out, serial ids assigned."""
    org = make_org(engine)
    m = meta(org, decision())
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    sink._commit([_Job(m, content=sealed("x"),
                       classification=classification(m, flagged=False))])
    sink.close()
    [row] = core_rows(engine, exchanges)
    assert row["stream"] is False and row["misuse_exception"] is False
    [result] = core_rows(engine, classifier_results)
    assert result["sampled_out"] is False and isinstance(result["id"], int)
    assert isinstance(core_rows(engine, contents)[0]["id"], int)
    assert_schema_types(engine)


async def test_content_is_stored_sealed_to_its_exchange(engine: Engine, keyring: Keyring) -> None:
    """The content columns hold AES-GCM ciphertext bound to the exchange and record class:
    the plaintext is nowhere in the row, and it opens only with its own exchange's AAD."""
    canary = "CANARY-stored-rows-7f3a"
    org = make_org(engine)
    m, other = meta(org, decision()), meta(org, decision())
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    try:
        await sink.record_retained(m, content_of(canary))
        await sink.record_retained(other, content_of("other"))
        await sink.record_classification(m, classification(m, flagged=True), content_of(canary))
    finally:
        await asyncio.to_thread(sink.close)
    for name, rows in stored_forms(engine).items():
        assert canary not in repr(rows), name
    [row] = [r for r in core_rows(engine, contents) if r["exchange_id"] == m.exchange_id]
    box = Sealed(row["nonce"], row["ciphertext"])
    assert unpack(keyring.decrypt(org, box, record_aad(m.exchange_id, "content"))) \
        == content_of(canary)
    with pytest.raises(Exception):   # any failure: it must not open
        keyring.decrypt(org, box, record_aad(other.exchange_id, "content"))
    with pytest.raises(Exception):
        keyring.decrypt(org, box, record_aad(m.exchange_id, "flagged_content"))
    assert pack(content_of(canary)) not in row["ciphertext"]
    [flag] = core_rows(engine, flagged_contents)
    assert unpack(keyring.decrypt(org, Sealed(flag["nonce"], flag["ciphertext"]),
                                  record_aad(m.exchange_id, "flagged_content"), "flagged")) \
        == content_of(canary)


@pytest.mark.parametrize("fresh", [False, True], ids=["same-sink", "after-a-restart"])
def test_a_batch_written_again_stores_each_row_once(
    engine: Engine, keyring: Keyring, fresh: bool
) -> None:
    """A retry of batches already committed (an acknowledgement lost with the connection, or
    the same jobs after a restart: no memory of what was committed) changes nothing — no second
    row, no second artifact, the final metadata kept."""
    written = batches(make_org(engine))
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    commit_all(sink, written.batches)
    before = stored_forms(engine)
    again = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK) if fresh else sink
    commit_all(again, written.batches[:3])        # everything but the final updates
    commit_all(again, written.batches[3:])
    assert stored_forms(engine) == before
    assert_values(engine, written, CLOCK)
    sink.close()
    again.close()


def test_a_batch_that_fails_midway_leaves_nothing_and_its_retry_all(
    engine: Engine, keyring: Keyring
) -> None:
    """The batch is one transaction: an error after its first statements rolls them back (no
    exchange row without its content), and the retry writes every row once."""
    written = batches(make_org(engine))
    jobs = [job for batch in written.batches for job in batch]
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    real = sink._inserts["flagged_contents"]

    class Failing:
        def execute(self, cursor: Any, rows: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")    # as the driver raises it

    sink._inserts["flagged_contents"] = Failing()  # type: ignore[assignment]
    with pytest.raises(DatabaseUnavailable) as raised:     # an outage: the writer retries
        sink._commit(jobs)
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    assert {name: len(rows) for name, rows in stored_forms(engine).items()} == {
        "exchanges": 0, "contents": 0, "classifier_results": 0, "flagged_contents": 0,
        "feature_artifacts": 0}
    sink._inserts["flagged_contents"] = real
    sink._commit(jobs)
    sink.close()
    assert_values(engine, written, CLOCK)


async def test_a_partial_stream_is_stored_with_its_outcome(
    engine: Engine, keyring: Keyring
) -> None:
    """A stream the client left: the request and what was relayed, written before the
    response ended, then the final metadata (no output count, its duration) as an update."""
    org = make_org(engine)
    started = dataclasses.replace(meta(org, decision()), stream=True, ttfb_ms=40,
                                  output_tokens=None, duration_ms=None)
    cut = RetainedContent(b'{"messages":[{"role":"user","content":"tell"}]}',
                          b'event: message_start\ndata: {"type":"message_start"}\n\n')
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    try:
        await sink.record_retained(dataclasses.replace(started, outcome="client_disconnected"),
                                   cut)
        await sink.record_metadata(dataclasses.replace(
            started, outcome="client_disconnected", status_code=200, duration_ms=1234))
        await sink.flush()
    finally:
        await asyncio.to_thread(sink.close)
    [row] = core_rows(engine, exchanges)
    assert (row["stream"], row["outcome"], row["output_tokens"], row["duration_ms"],
            row["ttfb_ms"]) == (True, "client_disconnected", None, 1234, 40)
    assert_schema_types(engine)
    stored = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    got = stored.read_content(started.exchange_id)
    stored.close()
    assert got is not None and got.content == cut


@pytest.mark.parametrize("size", [3, 4, 21, 64, 150])
def test_large_batches_store_every_row_once(engine: Engine, keyring: Keyring, size: int) -> None:
    """Batches past the multi-row statement sizes (SQLite: 64, 16, 4, then single rows), with
    repeats inside the batch, rows already stored and final-metadata updates of stored rows."""
    org = make_org(engine)
    metas = [meta(org, decision(zdr=number % 2 == 0,
                                features=frozenset({"files"}) if number % 7 == 0
                                else frozenset())) for number in range(size)]
    first = [_Job(m) for m in metas[: size // 3]]
    second = [_Job(m) for m in metas] + [_Job(m) for m in metas[::5]] + [
        _Job(m, classification=classification(m, flagged=False)) for m in metas]
    finals = [dataclasses.replace(m, duration_ms=500 + number, status_code=499,
                                  outcome="client_disconnected", output_tokens=None)
              for number, m in enumerate(metas)]
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    commit_all(sink, [first, second, [_Job(m, final=True) for m in finals]])
    sink.close()
    written = Written([], {m.exchange_id: m for m in finals}, {},
                      {m.exchange_id: classification(m, flagged=False) for m in metas}, {})
    assert_schema_types(engine)
    assert_values(engine, written, CLOCK)


def test_sqlite_datetimes_are_stored_as_sqlalchemy_stores_them() -> None:
    """The SQLite bind form is SQLAlchemy's own DATETIME text, microseconds and all (so Core
    reads, compares and orders the writer's datetimes like its own)."""
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    process = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    for value in (CLOCK, datetime(9000, 1, 1, tzinfo=UTC), datetime(2026, 3, 4, 5, 6, 7),
                  datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC)):
        assert sqlite_datetime(value) == process(value)


def test_the_engines_json_serializer_does_not_change_what_is_stored(tmp_path: Any) -> None:
    """The writer serializes JSON itself: an engine with another serializer stores (and reads)
    the same values."""
    engine = engine_for(f"sqlite:///{tmp_path / 'other.sqlite3'}", json_serializer=json.dumps)
    migrate(engine)
    keyring = Keyring(engine, bytes(32))
    written = batches(make_org(engine))
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    commit_all(sink, written.batches)
    sink.close()
    assert_schema_types(engine)
    assert_values(engine, written, CLOCK)
    engine.dispose()


def test_an_engine_the_writer_cannot_bind_for_is_refused(tmp_path: Any) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    engine.dialect.driver = "aiosqlite"          # as another driver would name itself
    with pytest.raises(ValueError, match="pysqlite or psycopg"):
        SqlExchangeSink(engine, Keyring(engine, bytes(32)))
    engine.dispose()


async def test_errors_are_retried_then_isolated_per_job(engine: Engine, keyring: Keyring) -> None:
    """A database error (the driver's, as the writer's statements raise it) is retried, and a
    job that keeps failing fails alone: its neighbour in the batch is committed."""
    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    sink.writer.retry_seconds = 0.05
    sink.writer.idle_linger = 0.2
    retries: list[int] = []
    sink.writer._on_retry = lambda: retries.append(1)
    sizes: list[int] = []
    real = sink.writer._commit

    def counting(jobs: Sequence[_Job]) -> None:
        sizes.append(len(jobs))
        real(jobs)

    sink.writer._commit = counting
    org = make_org(engine)
    good = meta(org, decision(zdr=True))
    bad = dataclasses.replace(meta(org, decision(zdr=True)), org_id=None)  # type: ignore[arg-type]
    try:
        await sink.record_metadata(good)     # lingers: the next two join its batch
        results = await asyncio.gather(
            sink.record_classification(good, classification(good, flagged=False), None),
            sink.record_classification(bad, classification(bad, flagged=False), None),
            return_exceptions=True)
    finally:
        await asyncio.to_thread(sink.close)
    assert results[0] is None
    assert isinstance(results[1], StoreUnavailable)
    assert retries, "the batch's error was not retried"
    assert sizes[0] == 3 and sizes[-2:] == [1, 1], sizes     # the batch, then job by job
    assert [row["id"] for row in core_rows(engine, exchanges)] == [good.exchange_id]
    assert len(core_rows(engine, classifier_results)) == 1


async def test_held_connection_is_replaced_when_dead_and_returned_when_idle(
    engine: Engine, keyring: Keyring
) -> None:
    """The writer keeps its connection between batches; if it died meanwhile (server restart,
    killed backend) the batch is retried on a fresh one, and an idle writer gives it back."""
    from sqlalchemy import text

    sink = SqlExchangeSink(engine, keyring, clock=lambda: CLOCK)
    sink.writer.idle_after = 0.3
    retries: list[int] = []
    sink.writer._on_retry = lambda: retries.append(1)
    org = make_org(engine)
    first, second = meta(org, decision()), meta(org, decision())
    try:
        await sink.record_retained(first, content_of("one"))
        held = sink._held
        assert held is not None
        if engine.dialect.name == "postgresql":
            pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            held.rollback()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            held.connection.dbapi_connection.close()  # type: ignore[union-attr]
        await sink.record_retained(second, content_of("two"))
        assert retries, "the dead connection's failure was not retried"
        assert sink._held is not None and sink._held is not held
        for _ in range(100):            # bounded: idle_after is 0.3 s
            if sink._held is None:
                break
            await asyncio.sleep(0.02)
        assert sink._held is None, "the idle writer kept its connection"
        assert engine.pool.checkedout() == 0       # type: ignore[attr-defined]
    finally:
        await asyncio.to_thread(sink.close)
    assert {row["id"] for row in core_rows(engine, exchanges)} == {
        first.exchange_id, second.exchange_id}
    assert len(core_rows(engine, contents)) == 2
