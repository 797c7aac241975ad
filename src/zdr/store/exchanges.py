"""`SqlExchangeSink`: where the gateway and the safety pipeline hand finished exchanges.

Implements `zdr.ports.ExchangeSink` and `zdr.ports.SafetySink`:

- `await record_metadata(meta)` — a plain method: the record is queued when it returns (never
  content: the type has no field for it), and what it returns is already done. Back-pressure:
  when the queue is full, what it returns waits for room (up to `put_timeout`), then raises
  `StoreUnavailable`.
- `await record_retained(meta, content, ongoing=...)` — returns once the transaction holding it
  has committed: the gateway awaits it before the last byte of the response, so a response the
  client saw complete is on disk even if the process is killed right after (what this
  costs: BENCHMARKS.md, "Store"). The write is queued before the call's first suspension point
  (or, for content sealed in the crypto thread, shielded): a caller cancelled meanwhile (the
  client hung up) does not stop it.
- `await record_classification(meta, result, flagged)` — classifier result (if the decision
  keeps it) and, for flagged content, the encrypted `flagged_contents` row and
  `exchanges.misuse_exception = true`; returns once committed.
- `await flush()`, `close()`, `start()`; `read_content(exchange_id)` / `read_flagged(exchange_id)`
  (decrypted, for callers the control plane has authorized; see `zdr.store.content`).

Exactly once: the exchange id is the primary key of `exchanges`; every write is one multi-row
`INSERT … ON CONFLICT DO NOTHING` per table and batch (for `exchanges` with `RETURNING id`: the
ids that are new), content rows are unique per exchange (and expiry day on PostgreSQL), and
feature artifacts are written only with the exchange row that is new. Any mix and repetition of
the three calls for one exchange stores one row per record class.

A retained exchange is written once, metadata row and content in one transaction. Written
`ongoing` (the gateway's write before the last byte), its row takes the exchange's duration as
of that write (the duration given plus the time the job waited in the queue) and, if no byte
has gone out yet (a JSON answer), the same as its time to first byte: the last byte follows the
commit. The gateway then reports its final metadata (duration, token counts, outcome) with
`record_metadata`: if the status, outcome and token counts are what was stored and the timings
are within `FINAL_TIMING_SLACK_MS` of it (exact, for content not written `ongoing`), nothing is
queued: one job, one row per exchange. Otherwise (the client hung up during the write, the
response took long to go out) an UPDATE of just those columns rides along with the next batch
(it waits up to `FINAL_UPDATE_LINGER` for one); it inserts the row instead if the content
write did not commit.

How a batch is written: through the driver (`zdr.store.upsert.DriverInsert`), pysqlite or
psycopg, on the DBAPI cursor of a transaction begun and committed through SQLAlchemy (driver
errors translated by `zdr.store.failures`: an outage is retried): rows are tuples already in
bind form (`zdr.store.records.*_values`: JSON serialized once per decision, datetimes formatted
as SQLAlchemy's own types bind them), one `executemany` (SQLite: multi-row statements) per
table, and no `RETURNING` unless an exchange of the batch may have feature artifacts (those
rows are inserted with `RETURNING id`, so artifacts go only with a row that is new).
tests/store/test_stored_rows.py checks what is stored against the schema on both backends.
Two more savings: the writer thread keeps its connection while batches keep
coming (`HELD_CONNECTION_IDLE`; no pool checkout and no pre-ping round trip per batch; released
after an error or when idle), and a job of an exchange whose row this sink committed lately
(the classifier result after the metadata, the final metadata after the content) does not send
that row again (`ON CONFLICT DO NOTHING` would drop it; a final update is then just the UPDATE).

Content is encrypted before it is queued (small content on the caller's loop, in microseconds;
large content, or an org's first use of its key, in a crypto thread), then written by one writer
thread per process (`zdr.store.writer.BatchWriter`): the event loop never touches the
database, and only ciphertext is queued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from zdr.errors import StoreUnavailable
from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.store import records
from zdr.store.content import (
    COMPRESS_BYTES,
    FlaggedContent,
    StoredContent,
    pack,
    pack_compressed,
    read_content,
    read_flagged,
)
from zdr.store.crypto import KeyDestroyed, Keyring, Purpose, Sealed, record_aad
from zdr.store.db import datetime_binder, utc
from zdr.store.failures import translated, untranslated_types
from zdr.store.partitions import PartitionManager
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
)
from zdr.store.upsert import DriverInsert, DriverUpdate, driver_supported
from zdr.store.writer import BatchWriter


@dataclass(slots=True)
class _Job:
    """What the writer thread gets: metadata and ciphertext only (content is sealed before)."""

    meta: ExchangeMetadata
    content: Sealed | None = None
    classification: ClassificationRecord | None = None
    flagged: Sealed | None = None
    final: bool = False          # the final metadata of a stored exchange: update its columns
    stored: _Stored | None = None  # content: what its row holds, for the final metadata


@dataclass(slots=True)
class _Stored:
    """What the row of a content job holds, kept until the exchange's final metadata comes
    (no content: the job itself is dropped once written)."""

    # Content of an exchange still under way (`record_retained(..., ongoing=True)`): its row
    # takes the duration (and a missing time to first byte) as of the write, counted from
    # `queued` (monotonic seconds).
    ongoing: bool
    queued: float
    # Set by the writer thread once the row this job wrote has committed: its final columns
    # (`FINAL_COLUMNS` order) as stored.
    written: tuple[Any, ...] | None = None


class _Queued:
    """What `record_metadata` returns once the record is queued: an awaitable that is done."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield       # a generator: `await` returns at once


_QUEUED = _Queued()


# Content below this size is sealed on the caller's loop (AES-GCM: a few microseconds) when the
# org's key is in memory; bigger content (which is also compressed first: zdr.store.content), or
# a key to fetch, goes to the crypto thread.
INLINE_SEAL_BYTES = COMPRESS_BYTES

# How long the final-metadata update of a retained exchange waits to share the next batch.
FINAL_UPDATE_LINGER = 0.05
# An ongoing exchange's row holds its duration (and time to first byte) as of its content write;
# the final figures replace them only if they differ by more than this (or the outcome, status
# or token counts changed): the last byte follows the commit within it.
FINAL_TIMING_SLACK_MS = 50
# Exchanges whose content was queued and whose final metadata has not come yet.
_PENDING_FINAL_LIMIT = 10_000
# Exchange ids whose row this sink committed lately (writer thread only). A later
# job of the same exchange (its classifier result) then skips re-inserting that row, which
# `ON CONFLICT DO NOTHING` would drop anyway. Oldest forgotten first.
_COMMITTED_LIMIT = 16_384
# The writer thread keeps its connection between batches (no pool checkout, no
# pre-ping round trip per batch) while batches follow each other within this many seconds;
# it returns it to the pool when idle that long, and after any error, so the next batch
# checks out a fresh (pre-pinged) one.
HELD_CONNECTION_IDLE = 1.0

# The columns of `exchanges` that change between the content write and the end of the exchange.
FINAL_COLUMNS = ("status_code", "outcome", "input_tokens", "output_tokens", "duration_ms",
                 "ttfb_ms")


def _final(meta: ExchangeMetadata) -> tuple[Any, ...]:
    return (meta.status_code, meta.outcome[:30], meta.input_tokens, meta.output_tokens,
            meta.duration_ms, meta.ttfb_ms)


def _close(stored: int | None, final: int | None) -> bool:
    if stored is None or final is None:
        return stored is final
    return abs(final - stored) <= FINAL_TIMING_SLACK_MS


def _already_stored(stored: _Stored, final: ExchangeMetadata) -> bool:
    """Whether the row a content job wrote already holds `final`'s figures (see
    `FINAL_TIMING_SLACK_MS` for the timings of an ongoing exchange)."""
    written = stored.written
    if written is None:     # not committed (yet), or its row came from another job
        return False
    figures = _final(final)
    if not stored.ongoing:
        return written == figures
    return (written[:4] == figures[:4] and _close(written[4], figures[4])
            and _close(written[5], figures[5]))


def _now() -> datetime:
    return datetime.now(UTC)


class SqlExchangeSink:
    """The SQL store behind `ExchangeSink` and `SafetySink` (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        *,
        capacity: int = 10_000,
        max_batch: int = 512,
        put_timeout: float = 10.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        """`engine`: pysqlite or psycopg (`zdr.store.db.engine_for` makes one of those)."""
        if not driver_supported(engine.dialect):
            raise ValueError("the store writes through pysqlite or psycopg: make the engine "
                             "with zdr.store.db.engine_for")
        self.engine = engine
        self.keyring = keyring
        self._clock = clock
        self._partitions = PartitionManager(engine)
        self._stamp = datetime_binder(engine.dialect.name)
        d = engine.dialect
        self._inserts = {
            "exchanges": DriverInsert.build(d, exchanges, records.EXCHANGE_COLUMNS),
            "contents": DriverInsert.build(d, contents, records.CONTENT_COLUMNS),
            "classifier_results": DriverInsert.build(d, classifier_results,
                                                     records.CLASSIFIER_COLUMNS),
            "flagged_contents": DriverInsert.build(d, flagged_contents, records.FLAGGED_COLUMNS),
            "feature_artifacts": DriverInsert.build(d, feature_artifacts,
                                                    records.ARTIFACT_COLUMNS),
        }
        # Exchanges with feature artifacts: which rows are new decides whether artifacts go too.
        self._insert_new_exchanges = DriverInsert.build(d, exchanges, records.EXCHANGE_COLUMNS,
                                                        returning="id")
        self._final_update = DriverUpdate.build(d, exchanges, FINAL_COLUMNS, "id")
        self._misuse_update = DriverUpdate.build(d, exchanges, ("misuse_exception",), "id")
        self._committed: dict[str, None] = {}
        self._held: Connection | None = None       # writer thread only (see _connection)
        self._held_at = 0.0
        # exchange id -> its content job, until the final metadata comes (module docstring).
        self._retained: dict[str, _Stored] = {}
        # Large content is sealed in its own thread, overlapping the writer's round trips.
        self._crypto = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zdr-store-crypto")
        self.writer: BatchWriter[_Job] = BatchWriter(
            self._commit, capacity=capacity, max_batch=max_batch, put_timeout=put_timeout,
            on_retry=self._partitions.forget, on_idle=self._release,
            idle_after=HELD_CONNECTION_IDLE,
        )

    # -- ports ---------------------------------------------------------------------------------
    def record_metadata(self, meta: ExchangeMetadata) -> Awaitable[None]:
        """Queues the record before it returns (no coroutine); what it returns waits only when
        the queue is full (see the module docstring)."""
        retained = self._retained.pop(meta.exchange_id, None)
        if retained is None:
            job = _Job(meta)
            linger = None
        elif _already_stored(retained, meta):
            return _QUEUED
        else:       # an UPDATE (or, if the content write failed, the row)
            job = _Job(meta, final=True)
            linger = FINAL_UPDATE_LINGER
        if self.writer.queue(job, linger):
            return _QUEUED
        return self.writer.submit(job, wait=False, linger=linger)

    async def record_retained(self, meta: ExchangeMetadata, content: RetainedContent, *,
                              ongoing: bool = False) -> None:
        """Returns once committed. Queued before the first suspension point (content sealed on
        the loop), or shielded while it is sealed in the crypto thread: a caller cancelled
        meanwhile (the client hung up) leaves the write to complete, and its final metadata
        then updates the row."""
        if not records.kept(meta, "content"):
            raise ValueError("record_retained called for a decision that keeps no content")
        sealed = self._seal_inline(meta, content, "content")
        if sealed is None:
            await asyncio.shield(self._seal_and_write(meta, content, ongoing))
            return
        await self._write_retained(meta, sealed, ongoing)

    async def _seal_and_write(self, meta: ExchangeMetadata, content: RetainedContent,
                              ongoing: bool) -> None:
        sealed = await self._seal(meta, content, "content")
        await self._write_retained(meta, sealed, ongoing)

    async def _write_retained(self, meta: ExchangeMetadata, sealed: Sealed,
                              ongoing: bool) -> None:
        stored = _Stored(ongoing, time.monotonic() if ongoing else 0.0)
        retained = self._retained
        if len(retained) >= _PENDING_FINAL_LIMIT:
            retained.clear()      # finals that never came; the next ones just insert
        retained[meta.exchange_id] = stored
        try:
            await self.writer.submit(_Job(meta, content=sealed, stored=stored), wait=True)
        except Exception:
            if retained.get(meta.exchange_id) is stored:
                del retained[meta.exchange_id]     # no row: the final metadata inserts one
            raise

    async def record_classification(
        self, meta: ExchangeMetadata, result: ClassificationRecord, flagged: RetainedContent | None
    ) -> None:
        sealed = None
        if flagged is not None and records.kept(meta, "flagged_content"):
            sealed = await self._seal(meta, flagged, "flagged_content")
        # A background task awaits this, not a client: it may wait for company.
        await self.writer.submit(_Job(meta, classification=result, flagged=sealed), wait=True,
                                 linger=self.writer.idle_linger)

    def _seal_inline(
        self, meta: ExchangeMetadata, content: RetainedContent, record_class: str
    ) -> Sealed | None:
        """Small content whose org key is in memory, sealed here (microseconds: cheaper than a
        thread hop); None for content the crypto thread must seal (`_seal`)."""
        purpose: Purpose = "content" if record_class == "content" else "flagged"
        if (len(content.request) + len(content.response) >= INLINE_SEAL_BYTES
                or not self.keyring.has_key_cached(meta.org_id, purpose)):
            return None
        try:
            # below the compression threshold: packed as it is, never compressed on the loop
            return self.keyring.encrypt(meta.org_id, pack(content),
                                        record_aad(meta.exchange_id, record_class), purpose)
        except KeyDestroyed:
            raise StoreUnavailable("the organization's data key was destroyed") from None

    async def _seal(
        self, meta: ExchangeMetadata, content: RetainedContent, record_class: str
    ) -> Sealed:
        sealed = self._seal_inline(meta, content, record_class)
        if sealed is not None:
            return sealed
        purpose: Purpose = "content" if record_class == "content" else "flagged"
        aad = record_aad(meta.exchange_id, record_class)

        # An exchange's content is stored compressed; flagged content as the JSON the control
        # plane reads (zdr.store.content).
        packer = pack_compressed if record_class == "content" else pack

        def seal() -> Sealed:
            return self.keyring.encrypt(meta.org_id, packer(content), aad, purpose)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._crypto, seal)
        except KeyDestroyed:
            raise StoreUnavailable("the organization's data key was destroyed") from None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.writer.start()

    async def flush(self) -> None:
        await self.writer.flush()

    def close(self, timeout: float = 30.0) -> None:
        self.writer.close(timeout)
        if not self.writer.running:
            self._release()
        self._crypto.shutdown(wait=True)

    # -- reads ---------------------------------------------------------------------------------
    def read_content(self, exchange_id: str) -> StoredContent | None:
        return read_content(self.engine, self.keyring, exchange_id, self._clock())

    def read_flagged(self, exchange_id: str) -> FlaggedContent | None:
        return read_flagged(self.engine, self.keyring, exchange_id, self._clock())

    # -- writer thread -------------------------------------------------------------------------
    def _commit(self, jobs: Sequence[_Job]) -> None:
        """Write the batch in one transaction (or raise): one row per exchange and table, the
        final metadata as an UPDATE, artifacts only with an exchange row that is new."""
        stamp = self._stamp
        now = stamp(utc(self._clock()))
        clock = time.monotonic()
        exchange_rows: dict[str, tuple[Any, ...]] = {}
        metas: dict[str, ExchangeMetadata] = {}
        final: dict[str, tuple[Any, ...]] = {}
        committed = self._committed
        content_rows: dict[str, tuple[Any, ...]] = {}
        classifier_rows: dict[str, tuple[Any, ...]] = {}
        flagged_rows: dict[str, tuple[Any, ...]] = {}
        writers: list[tuple[_Stored, tuple[Any, ...]]] = []  # content jobs that wrote a row
        for job in jobs:
            meta = job.meta
            exchange_id = meta.exchange_id
            if job.final:               # later metadata of the same exchange wins
                final[exchange_id] = (*_final(meta), exchange_id)
                if exchange_id not in committed:      # else the UPDATE alone does it
                    exchange_rows[exchange_id] = records.exchange_values(meta, stamp)
                    metas[exchange_id] = meta
            elif exchange_id not in exchange_rows and exchange_id not in committed:
                stored = job.stored
                if stored is None:
                    exchange_rows[exchange_id] = records.exchange_values(meta, stamp)
                else:
                    figures = _final(meta)
                    if stored.ongoing and meta.duration_ms is not None:
                        duration = meta.duration_ms + round((clock - stored.queued) * 1000)
                        ttfb = duration if meta.ttfb_ms is None else meta.ttfb_ms
                        figures = (*figures[:4], duration, ttfb)
                    exchange_rows[exchange_id] = records.exchange_values(
                        meta, stamp, (figures[4], figures[5]))
                    writers.append((stored, figures))
                metas[exchange_id] = meta
            if job.content is not None and exchange_id not in content_rows:
                content_rows[exchange_id] = records.content_values(meta, job.content, now, stamp)
            result = job.classification
            if result is None:
                continue
            if (records.kept(meta, "classifier_result")
                    and exchange_id not in classifier_rows):
                classifier_rows[exchange_id] = records.classification_values(
                    meta, result, now, stamp)
            if job.flagged is not None and exchange_id not in flagged_rows:
                flagged_rows[exchange_id] = records.flagged_values(
                    meta, result, job.flagged, now, stamp)
        if self._partitions.enabled:    # PostgreSQL: the bind form of a datetime is itself
            self._partitions.ensure("contents", (r[-1] for r in content_rows.values()))
            self._partitions.ensure("flagged_contents", (r[-1] for r in flagged_rows.values()))
        # Exchanges whose decision keeps feature artifacts need to know whether their row is
        # new (RETURNING): those few go in statements of their own; the rest in one executemany.
        with_artifacts = {i: exchange_rows[i] for i, m in metas.items()
                          if m.decision.artifacts}
        plain = exchange_rows
        if with_artifacts:
            plain = {i: row for i, row in exchange_rows.items() if i not in with_artifacts}
        conn = self._connection()
        try:
            self._write(conn, plain, with_artifacts, metas, final, content_rows,
                        classifier_rows, flagged_rows, now)
        except BaseException:
            self._release()             # a fresh, pre-pinged connection for the retry
            raise
        self._held_at = time.monotonic()
        for exchange_id in exchange_rows:
            committed[exchange_id] = None
        for stored, figures in writers:
            stored.written = figures    # (a final UPDATE in this batch came after its metadata)
        while len(committed) > _COMMITTED_LIMIT:
            del committed[next(iter(committed))]

    def _connection(self) -> Connection:
        """The writer thread's connection: kept while batches keep coming (see
        `HELD_CONNECTION_IDLE`), else checked out afresh from the pool."""
        held = self._held
        if held is not None and time.monotonic() - self._held_at < HELD_CONNECTION_IDLE:
            return held
        self._release()
        self._held = self.engine.connect()
        return self._held

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except Exception:  # noqa: BLE001 - a broken connection: the pool discards it
                held.invalidate()

    def _write(
        self, conn: Connection, plain: dict[str, tuple[Any, ...]],
        with_artifacts: dict[str, tuple[Any, ...]],
        metas: dict[str, ExchangeMetadata], final: dict[str, tuple[Any, ...]],
        content_rows: dict[str, tuple[Any, ...]], classifier_rows: dict[str, tuple[Any, ...]],
        flagged_rows: dict[str, tuple[Any, ...]], now: Any,
    ) -> None:
        """One transaction on `conn`: the batch's rows, committed or rolled back. Begun and
        committed through SQLAlchemy (SQLite: `BEGIN IMMEDIATE` after the file check), the
        statements on the DBAPI cursor (`zdr.store.upsert`), their errors translated."""
        inserts = self._inserts
        stamp = self._stamp
        with conn.begin():
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                if with_artifacts:
                    new_ids = self._insert_new_exchanges.new_keys(
                        cursor, list(with_artifacts.values()))
                    inserts["feature_artifacts"].execute(cursor, [
                        row for i in with_artifacts if i in new_ids
                        for row in records.artifact_values(metas[i], now, stamp)])
                inserts["exchanges"].execute(cursor, list(plain.values()))
                # Final metadata: the row exists (its content committed before), or was
                # inserted just above with these very values; the UPDATE leaves the final ones.
                self._final_update.execute(cursor, list(final.values()))
                inserts["contents"].execute(cursor, list(content_rows.values()))
                inserts["classifier_results"].execute(cursor, list(classifier_rows.values()))
                inserts["flagged_contents"].execute(cursor, list(flagged_rows.values()))
                self._misuse_update.execute(cursor, [(True, i) for i in flagged_rows])
            except untranslated_types() as error:
                outage = translated(error)      # DatabaseUnavailable: the batch is retried
                if outage is error:
                    raise
                raise outage from error
            finally:
                cursor.close()
