"""`ResultHandoff`: results back to the event loop and into the `SafetySink`, bounded and timed.

    worker threads                                   event loop
    write_all(outcomes) ─ a write slot each ─one hop per batch─► record_batch: the batch's
        (at most `slots` writes in flight;             record_classification calls started
         none free: wait up to `write_timeout`)         together, under one `write_timeout`
    write_text_free(meta, record) ─ backlog ─────────► backlog task: batches of BACKLOG_BATCH
        (sampled out, nothing to score; any thread)     written concurrently, each timed
                                                         ▼
                          SafetySink.record_classification(meta, record, flagged | None)

The event loop driving the classifier's child processes (zdr.safety.loop_children) hands its
batches over with `write_on_loop` instead: the same coroutine, started as a task there and then,
no hop; `writing` counts its results in flight, which that caller bounds.

A worker does not wait for the writes it hands over: it classifies the next exchanges meanwhile.
One coroutine on the loop starts a handed-over batch's writes together (so a store that commits
in batches, the SQL sink, sees many at once); a write still unfinished when the batch's timeout
strikes is cancelled and counted as failed (`zdr_classifier_errors_total{stage="write"}`, a log
line with the exchange id and the error's type name). `wait_for_writes` and `close` (the
pipeline's `stop`) wait for the writes in flight and the backlog, so the sink can be closed
right after.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent, SafetySink
from zdr.safety.jobs import Outcome
from zdr.safety.metrics import SafetyMetrics

BACKLOG_BATCH = 256
# A write of a handed-over batch that had not finished (errors list placeholder).
_UNFINISHED = object()


class ResultHandoff:
    """Writes outcomes and text-free results through `sink` on the loop given to `start`."""

    def __init__(self, sink: SafetySink, metrics: SafetyMetrics, log: Any, *, slots: int,
                 write_timeout: float) -> None:
        self._sink = sink
        self._metrics = metrics
        self._log = log
        self._write_timeout = write_timeout
        self._write_slots = threading.BoundedSemaphore(slots)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._count_lock = threading.Lock()
        self._writes: set[concurrent.futures.Future[bool]] = set()
        # batches written from the loop itself (`write_on_loop`), and their results in flight
        self._loop_writes: set[asyncio.Task[bool]] = set()
        self.writing = 0
        self._completed = 0
        # text-free results waiting to be written (sampled out, or nothing to score)
        self._backlog: deque[tuple[ExchangeMetadata, ClassificationRecord]] = deque()
        self._backlog_ready: asyncio.Event | None = None
        self._backlog_writer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def completed(self) -> int:
        """Results written so far (classified or text-free)."""
        return self._completed

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On `loop`: start the backlog's writer (what was recorded before goes first)."""
        self._loop = loop
        self._backlog_ready = asyncio.Event()
        self._backlog_writer = loop.create_task(self._write_backlog(), name="safety-backlog")
        if self._backlog:
            self._wake_backlog_writer()

    # ---- classified outcomes: one hop per batch (worker threads) -------------------------------
    def write_all(self, outcomes: list[Outcome]) -> None:
        """Hand the results to the loop without waiting for their writes: each takes a write slot
        (at most `slots` in flight); those holding one go over together. When no slot is free,
        what holds one goes first, then the worker waits (up to `write_timeout`) for the next."""
        batch: list[Outcome] = []
        for outcome in outcomes:
            if not self._write_slots.acquire(blocking=False):
                if batch:
                    self._hand_off(batch)
                    batch = []
                if not self._write_slots.acquire(timeout=self._write_timeout):
                    self._write_failed(outcome[0], TimeoutError())
                    continue
            batch.append(outcome)
        outcomes.clear()
        if batch:
            self._hand_off(batch)

    def _hand_off(self, batch: list[Outcome]) -> None:
        """One hop to the loop for the whole batch (its write slots are taken)."""
        loop = self._loop
        assert loop is not None
        errors: list[object] = [_UNFINISHED] * len(batch)
        writes = self._record_batch(batch, errors)
        try:
            future = asyncio.run_coroutine_threadsafe(writes, loop)
        except Exception as error:  # noqa: BLE001 - e.g. the loop is closed
            writes.close()
            self._write_slots.release(len(batch))
            for meta, _, _ in batch:
                self._write_failed(meta, error)
            return
        with self._count_lock:
            self._writes.add(future)
        future.add_done_callback(lambda done: self._batch_written(batch, errors, done))

    # ---- classified outcomes from the loop itself (zdr.safety.loop_children) -----------------
    def write_on_loop(self, outcomes: list[Outcome], written: Callable[[], None]) -> None:
        """On the loop: start the batch's writes (one task, under one timeout) without a hop;
        `written()` is called when they are done. `writing` counts the results in flight (the
        caller bounds it)."""
        loop = self._loop
        assert loop is not None
        errors: list[object] = [_UNFINISHED] * len(outcomes)
        task = loop.create_task(self._record_batch(outcomes, errors))
        self._loop_writes.add(task)
        self.writing += len(outcomes)
        task.add_done_callback(partial(self._loop_batch_written, outcomes, errors, written))

    def _loop_batch_written(self, batch: list[Outcome], errors: list[object],
                            written: Callable[[], None], task: asyncio.Task[bool]) -> None:
        self._loop_writes.discard(task)
        self.writing -= len(batch)
        self._account(batch, errors, task)
        written()

    async def _record_batch(self, batch: list[Outcome], errors: list[object]) -> bool:
        """The batch's writes, started together on the loop, under one timeout; each write's
        outcome goes to `errors` (None: written). Returns whether the timeout struck."""

        async def write(index: int, meta: ExchangeMetadata, record: ClassificationRecord,
                        flagged: RetainedContent | None) -> None:
            # the sink's coroutine is made here, on the loop: never left un-awaited if cancelled
            try:
                await self._sink.record_classification(meta, record, flagged)
            except Exception as error:  # noqa: BLE001 - counted and logged by type per exchange
                errors[index] = error
            else:
                errors[index] = None

        try:
            async with asyncio.timeout(self._write_timeout):
                if len(batch) == 1:
                    await write(0, *batch[0])
                else:
                    await asyncio.gather(*(write(index, *outcome)
                                           for index, outcome in enumerate(batch)),
                                         return_exceptions=True)
        except TimeoutError:
            return True
        return False

    def _batch_written(self, batch: list[Outcome], errors: list[object],
                       future: concurrent.futures.Future[bool]) -> None:
        with self._count_lock:
            self._writes.discard(future)
        self._write_slots.release(len(batch))
        self._account(batch, errors, future)

    def _account(self, batch: list[Outcome], errors: list[object],
                 future: concurrent.futures.Future[bool] | asyncio.Future[bool]) -> None:
        """Count the batch's writes done; each failed or unfinished one counted and logged."""
        unfinished: BaseException
        if future.cancelled():
            unfinished = asyncio.CancelledError()
        else:
            failure = future.exception()
            if failure is not None:
                unfinished = failure
            else:
                unfinished = TimeoutError() if future.result() else asyncio.CancelledError()
        written = 0
        for (meta, _, _), error in zip(batch, errors, strict=True):
            if error is None:
                written += 1
            elif isinstance(error, BaseException):
                self._write_failed(meta, error)
            else:
                self._write_failed(meta, unfinished)
        batch.clear()           # flagged content, if any, is the sink's now
        with self._count_lock:
            self._completed += written

    def _write_failed(self, meta: ExchangeMetadata, error: BaseException) -> None:
        self._metrics.errors.labels(stage="write").inc()
        self._log.error("safety_write_failed", request_id=meta.exchange_id,
                        error_type=type(error).__name__)

    # ---- text-free results: the backlog, written on the loop -----------------------------------
    def write_text_free(self, meta: ExchangeMetadata, record: ClassificationRecord) -> None:
        """Queue a result that carries no text (sampled out, nothing to score); any thread."""
        self._backlog.append((meta, record))
        self._wake_backlog_writer()

    def _wake_backlog_writer(self) -> None:
        loop, ready = self._loop, self._backlog_ready
        if loop is None or ready is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            ready.set()
        else:
            loop.call_soon_threadsafe(ready.set)

    async def _write_backlog(self) -> None:
        assert self._backlog_ready is not None
        while True:
            await self._backlog_ready.wait()
            self._backlog_ready.clear()
            await self._flush_backlog()
            if self._closing:
                return

    async def _flush_backlog(self) -> None:
        """Write the backlog in concurrent batches (one commit each on a batching sink)."""
        while self._backlog:
            batch = [self._backlog.popleft()
                     for _ in range(min(len(self._backlog), BACKLOG_BATCH))]
            await asyncio.gather(*(self._write_text_free(meta, record) for meta, record in batch))

    async def _write_text_free(self, meta: ExchangeMetadata, record: ClassificationRecord) -> None:
        try:
            await asyncio.wait_for(self._sink.record_classification(meta, record, None),
                                   self._write_timeout)
            with self._count_lock:
                self._completed += 1
        except Exception as error:  # noqa: BLE001 - keep writing the rest
            self._write_failed(meta, error)

    # ---- stop ----------------------------------------------------------------------------------
    async def wait_for_writes(self, deadline: float) -> None:
        """Wait (until `deadline`, at least 0.1 s) for the handed-over batches in flight."""
        with self._count_lock:
            writes: list[asyncio.Future[bool]] = [
                asyncio.wrap_future(future) for future in self._writes]
        writes.extend(self._loop_writes)
        if writes:
            await asyncio.wait(writes, timeout=max(0.1, deadline - time.monotonic()))

    async def close(self, deadline: float) -> None:
        """Write the backlog (until `deadline`, at least 0.1 s), then end its writer."""
        self._closing = True
        self._wake_backlog_writer()
        if self._backlog_writer is not None:
            try:
                await asyncio.wait_for(self._backlog_writer,
                                       max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                self._log.warning("safety_backlog_unwritten", in_flight=len(self._backlog))
