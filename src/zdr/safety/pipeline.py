"""`SafetyPipeline`: classification off the response path, in a bounded pool, degrading by sampling.

    gateway (event loop)                     worker threads (Settings.classifier_workers)
    submit(meta, input, output) ──one list per──► queue (Settings.classifier_queue exchanges)
        │ queue full: sampled out   loop iteration  │ classify(input, output)
        ▼                                            │ flagged + decision keeps flagged_content?
    backlog of text-free records                     │   → RetainedContent (bytes), else None
        │ writer task                                │ drop the text references
        ▼                                            ▼
    SafetySink.record_classification(meta, ClassificationRecord, flagged | None)   (on the loop)

A worker classifies what is queued (up to `CLASSIFY_BATCH` exchanges, and for at most
`HANDOFF_SECONDS` when it classifies them one by one), then hands all those results to the loop in
one hop: one coroutine there starts the batch's `record_classification` calls together (so a store
that commits in batches, the SQL sink, sees many writes at once) under one overall timeout
(`write_timeout`); a write still unfinished then is cancelled and counted as failed. Workers do not
wait for the sink: they classify the next exchanges meanwhile. Each result takes a write slot
before it is handed over, so at most `queue_size` writes are in flight. `stop` waits for them
before it returns, so the sink can be closed right after.

`submit` (on the loop) collects the exchanges of one loop iteration and hands them to the worker
threads as one queue item (a `call_soon` flush), so a burst wakes a worker once, not once per
exchange; from a thread without the pipeline's running loop it queues the exchange directly. The
capacity (`queue_size`) counts exchanges, collected or queued, not queue items.

`submit_parts` takes an exchange of several texts (a batch's requests, its results, the pieces of
a file): one job, whose parts are classified one by one (or through `classify_many` in calls of
at most `CLASSIFY_BATCH` texts) and combined into one result (`zdr.safety.parts`); with no parts
it writes a text-free result that says why (`not_scored`) through the backlog.

`submit` never blocks and never raises: when the queue is full the exchange still gets a result,
marked `sampled_out=True` with no scores, and `zdr_classifier_sampled_out_total` counts it.
Log lines carry the exchange id (`request_id`) and error type names only. The text
lives only in the queued job and in the worker's locals; it is never logged, never put in an
exception message and never written anywhere except, when flagged, into the sink's flagged-content
store (which encrypts it). Exchanges whose decision keeps no `classifier_result` (refused requests,
surfaces without content) are dropped at once and counted in `zdr_classifier_skipped_total`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from asyncio import _get_running_loop
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent, SafetySink
from zdr.safety.classifier import ClassificationResult, Classifier, load_classifier
from zdr.safety.parts import Pair, combined, flagged_content
from zdr.safety.processes import ChildClassifierError, ProcessClassifier
from zdr.settings import Settings


class SafetyMetrics:
    """The pipeline's Prometheus metrics, in the registry given (the gateway's) or one of their
    own. Labels come from closed sets only."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sampled_out = Counter(
            "zdr_classifier_sampled_out",
            "Exchanges not classified because the classifier queue was full (result kept, "
            "no scores).", registry=self.registry)
        self.classified = Counter(
            "zdr_classifier_classified", "Exchanges classified, by outcome.", ("flagged",),
            registry=self.registry)
        self.skipped = Counter(
            "zdr_classifier_skipped", "Exchanges whose decision keeps no classifier result.",
            registry=self.registry)
        self.not_scored = Counter(
            "zdr_classifier_not_scored",
            "Exchanges whose result says part or all of them was not scored, by reason.",
            ("reason",), registry=self.registry)
        self.errors = Counter(
            "zdr_classifier_errors", "Classifier or sink failures.", ("stage",),
            registry=self.registry)
        self.queue_depth = Gauge(
            "zdr_classifier_queue_depth", "Exchanges waiting for the classifier.",
            registry=self.registry)
        self.seconds = Histogram(
            "zdr_classifier_seconds", "Time to classify one exchange.",
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value, e.g. `value("zdr_classifier_sampled_out_total")`."""
        return self.registry.get_sample_value(name, labels) or 0.0


@dataclass(slots=True)
class _Job:
    meta: ExchangeMetadata
    input_text: str = field(repr=False)
    output_text: str = field(repr=False)
    # an exchange of several texts (`submit_parts`): scored part by part, then combined
    parts: Sequence[Pair] | None = field(default=None, repr=False)
    not_scored: tuple[str, ...] = ()

    def pairs(self) -> Sequence[Pair]:
        return self.parts if self.parts is not None else ((self.input_text, self.output_text),)


_STOP = object()
BACKLOG_BATCH = 256
CLASSIFY_BATCH = 64
# A worker classifying one exchange at a time hands its results over at least this often.
HANDOFF_SECONDS = 0.01
# The outcome of one classified exchange: what is written, and the content kept if flagged.
_Outcome = tuple[ExchangeMetadata, ClassificationRecord, RetainedContent | None]
# A write of a handed-over batch that had not finished (errors list placeholder).
_UNFINISHED = object()


def _error_type(error: BaseException) -> str:
    """What a log line says of a classifier error: its type name (for an error raised in a child
    process, the original type's name that came back)."""
    if isinstance(error, ChildClassifierError):
        return error.raised_type
    return type(error).__name__


def not_scored_record(meta: ExchangeMetadata, classifier: Classifier,
                      not_scored: tuple[str, ...]) -> ClassificationRecord:
    """The result of an exchange with nothing to score: no scores, and the reasons."""
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier=classifier.name,
        classifier_version=classifier.version, flagged=False, scores={}, labels={},
        not_scored=not_scored)


def sampled_out_record(meta: ExchangeMetadata, classifier: Classifier) -> ClassificationRecord:
    """The result of an exchange the pipeline had no capacity for: no scores, `sampled_out`."""
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier=classifier.name,
        classifier_version=classifier.version, flagged=False, scores={}, labels={},
        sampled_out=True)


def result_record(meta: ExchangeMetadata, result: ClassificationResult,
                  not_scored: tuple[str, ...] = ()) -> ClassificationRecord:
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier=result.classifier,
        classifier_version=result.version, flagged=result.flagged, scores=dict(result.scores),
        labels=dict(result.labels), not_scored=not_scored)


class SafetyPipeline:
    """Implements `zdr.ports.SafetyQueue`. Call `await start()` on the gateway's loop first."""

    def __init__(
        self,
        classifier: Classifier,
        sink: SafetySink,
        *,
        workers: int = 1,
        queue_size: int = 1000,
        write_timeout: float = 30.0,
        registry: CollectorRegistry | None = None,
        logger: Any = None,
    ) -> None:
        if workers < 1 or queue_size < 1:
            raise ValueError("workers and queue_size must be at least 1")
        self.classifier = classifier
        self._sink = sink
        self._workers = workers
        self._capacity = queue_size
        # batches of jobs (one per loop iteration's submits, or one direct submit) and stops
        self._jobs: queue.SimpleQueue[list[_Job] | object] = queue.SimpleQueue()
        self._collected: list[_Job] = []     # submitted on the loop since its last flush
        # exchanges collected, queued or taken by a worker and not started: `_depth_lock`
        self._queued = 0
        self._depth_lock = threading.Lock()
        # each worker's taken, not yet started jobs (`stop` reclaims them past its timeout)
        self._held: list[deque[_Job]] = []
        self._write_timeout = write_timeout
        self._threads: list[threading.Thread] = []
        # text-free results waiting to be written (sampled out, or nothing to score)
        self._backlog: deque[tuple[ExchangeMetadata, ClassificationRecord]] = deque()
        self._backlog_ready: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = True
        self._closing = False
        self._completed = 0
        self._count_lock = threading.Lock()
        self._write_slots = threading.BoundedSemaphore(queue_size)
        self._writes: set[concurrent.futures.Future[bool]] = set()
        self.metrics = SafetyMetrics(registry)
        # read when scraped: no gauge update per exchange
        self.metrics.queue_depth.set_function(self._waiting)
        # the counter's two children, looked up once (a `labels()` call per exchange adds up)
        self._classified = {flagged: self.metrics.classified.labels(flagged=str(flagged).lower())
                            for flagged in (False, True)}
        self._log = logger if logger is not None else structlog.get_logger("zdr.safety")

    # ---- the SafetyQueue port ----------------------------------------------------------------

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None:
        """Queue an exchange for classification; never blocks, never raises, never logs text."""
        if not meta.decision.keep["classifier_result"].kept:
            self.metrics.skipped.inc()
            return
        self._enqueue(_Job(meta, input_text, output_text))

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[Pair],
                     not_scored: tuple[str, ...] = ()) -> None:
        """An exchange of several texts (`zdr.ports.SafetyQueue.submit_parts`); never blocks,
        never raises, never logs text."""
        if not meta.decision.keep["classifier_result"].kept:
            self.metrics.skipped.inc()
            return
        for reason in not_scored:
            self.metrics.not_scored.labels(reason=reason).inc()
        if not parts:       # nothing to score: a text-free result, written on the loop
            self._backlog.append((meta, not_scored_record(meta, self.classifier, not_scored)))
            self._wake_writer()
            return
        self._enqueue(_Job(meta, "", "", tuple(parts), not_scored))

    def _enqueue(self, job: _Job) -> None:
        """Collect the job on the loop (or queue it from elsewhere) if there is room, else
        record the exchange as sampled out."""
        if self._accepting:
            loop = self._loop
            if loop is not None and _get_running_loop() is loop:
                collected = self._collected
                if self._queued + len(collected) < self._capacity:
                    collected.append(job)
                    if len(collected) == 1:
                        loop.call_soon(self._flush)
                    return
            elif self._queue_now(job):
                return
        self._sampled_out(job.meta)

    def _sampled_out(self, meta: ExchangeMetadata) -> None:
        self.metrics.sampled_out.inc()
        self._backlog.append((meta, sampled_out_record(meta, self.classifier)))
        self._wake_writer()

    def _flush(self) -> None:
        """On the loop: hand what this iteration collected to the workers (one queue item per
        `CLASSIFY_BATCH`, so one wake-up for a burst)."""
        jobs = self._collected
        if not jobs:
            return
        with self._depth_lock:
            self._queued += len(jobs)
        self._collected = []
        if len(jobs) <= CLASSIFY_BATCH:
            self._jobs.put(jobs)
            return
        for start in range(0, len(jobs), CLASSIFY_BATCH):
            self._jobs.put(jobs[start:start + CLASSIFY_BATCH])
        jobs.clear()

    def _queue_now(self, job: _Job) -> bool:
        """Queue one job at once (a caller off the pipeline's loop, or before `start`) if there is
        room."""
        with self._depth_lock:
            if self._queued + len(self._collected) >= self._capacity:
                return False
            self._queued += 1
        self._jobs.put([job])
        return True

    def _waiting(self) -> int:
        """Exchanges waiting to be classified (collected on the loop, queued, or taken by a
        worker and not started)."""
        return self._queued + len(self._collected)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._backlog_ready = asyncio.Event()
        self._writer = asyncio.create_task(self._write_backlog(), name="safety-backlog")
        for number in range(self._workers):
            thread = threading.Thread(
                target=self._work, name=f"zdr-classifier-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self._backlog:
            self._wake_writer()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, classify what is queued within `timeout`, then record the rest as
        sampled out (their text dropped unread). Closes the classifier if it has `close()`."""
        self._accepting = False
        self._flush()                   # what this loop iteration collected goes first
        deadline = time.monotonic() + timeout
        threads = list(self._threads)
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads:
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
        for job in self._drain_jobs():
            self.metrics.sampled_out.inc()
            self._backlog.append((job.meta, sampled_out_record(job.meta, self.classifier)))
        for thread in threads:
            if thread.is_alive():       # still busy past the deadline: let it exit when done
                self._jobs.put(_STOP)
        with self._count_lock:
            writes = [asyncio.wrap_future(future) for future in self._writes]
        if writes:
            await asyncio.wait(writes, timeout=max(0.1, deadline - time.monotonic()))
        self._closing = True
        self._wake_writer()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                self._log.warning("safety_backlog_unwritten", in_flight=len(self._backlog))
        close = getattr(self.classifier, "close", None)
        if callable(close):             # e.g. a ProcessClassifier's child processes
            await asyncio.to_thread(close)
        self._log.info("safety_pipeline_stopped",
                       workers=sum(t.is_alive() for t in threads), in_flight=self.pending)
        self._threads.clear()

    @property
    def completed(self) -> int:
        """Results handed to the sink so far (classified or sampled out)."""
        return self._completed

    @property
    def pending(self) -> int:
        return self._waiting() + len(self._backlog)

    # ---- workers (threads) --------------------------------------------------------------------

    def _work(self) -> None:
        many = getattr(self.classifier, "classify_many", None)
        jobs: deque[_Job] = deque()     # taken from the queue, not classified yet
        with self._depth_lock:
            self._held.append(jobs)
        while True:
            if not jobs:
                item = self._jobs.get()
                if item is _STOP:
                    return
                self._take(item, jobs)
                del item
            if callable(many):
                outcomes = self._classify_batch(jobs, many)
            else:
                outcomes = self._classify_queued(jobs)
            self._write_all(outcomes)

    def _take(self, item: object, jobs: deque[_Job]) -> None:
        """Move a queued batch into the worker's `jobs` (still waiting: counted until started)."""
        assert isinstance(item, list)
        jobs.extend(item)
        item.clear()            # the batch held the only queued references to the text

    def _started(self, count: int) -> None:
        with self._depth_lock:
            self._queued -= count

    def _take_more(self, jobs: deque[_Job], wanted: int) -> None:
        """Add what is queued now to `jobs`, until it holds `wanted` (a stop is left for the
        next `get`)."""
        while len(jobs) < wanted:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:
                self._jobs.put(_STOP)       # handled by the next get
                return
            self._take(item, jobs)

    def _classify_queued(self, jobs: deque[_Job]) -> list[_Outcome]:
        """Classify the taken jobs and what else is queued, one by one, until `CLASSIFY_BATCH`
        results or `HANDOFF_SECONDS` (a slow classifier's results are not held back)."""
        outcomes: list[_Outcome] = []
        started = time.monotonic()
        while True:
            if not jobs:
                self._take_more(jobs, 1)
            try:
                job = jobs.popleft()        # `stop` may have reclaimed it meanwhile
            except IndexError:
                break
            self._started(1)
            outcomes.append((job.meta, *self._classify(job)))
            del job             # the job held the only queued reference to the text
            if len(outcomes) >= CLASSIFY_BATCH or time.monotonic() - started >= HANDOFF_SECONDS:
                break
        return outcomes

    def _classify_batch(self, queued: deque[_Job], many: Any) -> list[_Outcome]:
        """Classify up to `CLASSIFY_BATCH` of the taken and queued jobs in one call."""
        self._take_more(queued, CLASSIFY_BATCH)
        jobs: list[_Job] = []
        while len(jobs) < CLASSIFY_BATCH:
            try:
                jobs.append(queued.popleft())   # `stop` may have reclaimed them meanwhile
            except IndexError:
                break
        if not jobs:
            return []
        self._started(len(jobs))
        started = time.perf_counter()
        pairs = [pair for job in jobs for pair in job.pairs()]
        try:
            results: list[ClassificationResult] = []
            for first in range(0, len(pairs), CLASSIFY_BATCH):   # parts: many calls per job
                chunk = pairs[first:first + CLASSIFY_BATCH]
                results.extend(many(chunk))
                if len(results) != first + len(chunk):
                    raise ValueError("classify_many returned a different number of results")
        except Exception as error:  # noqa: BLE001 - a classifier failure must not kill the worker
            self.metrics.errors.labels(stage="classify").inc(len(jobs))
            for job in jobs:
                self._log.warning("classifier_failed", request_id=job.meta.exchange_id,
                                  error_type=_error_type(error))
            results = [self._empty_result()] * len(pairs)
        pairs.clear()
        each = (time.perf_counter() - started) / len(jobs)
        outcomes: list[_Outcome] = []
        first = 0
        for job in jobs:
            self.metrics.seconds.observe(each)
            count = len(job.pairs())
            outcomes.append((job.meta, *self._outcome(job, results[first:first + count])))
            first += count
        del job
        jobs.clear()            # the jobs held the only queued references to the text
        return outcomes

    def _classify(self, job: _Job) -> tuple[ClassificationRecord, RetainedContent | None]:
        started = time.perf_counter()
        try:
            results = [self.classifier.classify(input_text, output_text)
                       for input_text, output_text in job.pairs()]
        except Exception as error:  # noqa: BLE001 - a classifier failure must not kill the worker
            self.metrics.errors.labels(stage="classify").inc()
            self._log.warning("classifier_failed", request_id=job.meta.exchange_id,
                              error_type=_error_type(error))
            results = [self._empty_result()] * len(job.pairs())
        self.metrics.seconds.observe(time.perf_counter() - started)
        return self._outcome(job, results)

    def _empty_result(self) -> ClassificationResult:
        return ClassificationResult(self.classifier.name, self.classifier.version, {}, {})

    def _outcome(self, job: _Job, results: list[ClassificationResult]
                 ) -> tuple[ClassificationRecord, RetainedContent | None]:
        result = combined(self.classifier.name, self.classifier.version, results)
        self._classified[result.flagged].inc()
        flagged = None
        if result.flagged and job.meta.decision.keep["flagged_content"].kept:
            if job.parts is None:
                flagged = RetainedContent(
                    request=job.input_text.encode("utf-8", "surrogatepass"),
                    response=job.output_text.encode("utf-8", "surrogatepass"))
            else:
                flagged = flagged_content(job.parts, results)
        return result_record(job.meta, result, job.not_scored), flagged

    # ---- hand-off to the loop: one hop per batch ----------------------------------------------

    def _write_all(self, outcomes: list[_Outcome]) -> None:
        """Hand the results to the loop without waiting for their writes: each takes a write slot
        (at most `queue_size` in flight); those holding one go over together. When no slot is free,
        what holds one goes first, then the worker waits (up to `write_timeout`) for the next."""
        batch: list[_Outcome] = []
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

    def _hand_off(self, batch: list[_Outcome]) -> None:
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

    async def _record_batch(self, batch: list[_Outcome], errors: list[object]) -> bool:
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

    def _batch_written(self, batch: list[_Outcome], errors: list[object],
                       future: concurrent.futures.Future[bool]) -> None:
        with self._count_lock:
            self._writes.discard(future)
        self._write_slots.release(len(batch))
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
        self.metrics.errors.labels(stage="write").inc()
        self._log.error("safety_write_failed", request_id=meta.exchange_id,
                        error_type=type(error).__name__)

    def _count_done(self) -> None:
        with self._count_lock:
            self._completed += 1

    def _drain_jobs(self) -> list[_Job]:
        jobs: list[_Job] = []
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, list):
                self._started(len(item))
                jobs.extend(_Job(job.meta, "", "") for job in item)  # the metadata, not the text
                item.clear()
        for held in self._held:         # taken by a (stuck) worker, not started
            while True:
                try:
                    job = held.popleft()
                except IndexError:
                    break
                self._started(1)
                jobs.append(_Job(job.meta, "", ""))
        return jobs

    # ---- the text-free backlog (sampled-out results), written on the loop ---------------------

    def _wake_writer(self) -> None:
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
            self._count_done()
        except Exception as error:  # noqa: BLE001 - keep writing the rest
            self._write_failed(meta, error)


def pipeline_from_settings(
    settings: Settings,
    sink: SafetySink,
    *,
    registry: CollectorRegistry | None = None,
    logger: Any = None,
    processes: bool = True,
) -> SafetyPipeline:
    """The pipeline `Settings` describe: its classifier (`classifier`, `flag_thresholds`), pool
    size (`classifier_workers`) and queue (`classifier_queue`). Raises `ClassifierUnavailable`.

    With `processes` (the gateway's choice) the classifier runs in that many spawned child
    processes, so it never holds the gateway's interpreter lock; without, in threads."""
    classifier: Classifier
    if processes:
        classifier = ProcessClassifier(settings.classifier, settings.flag_thresholds,
                                       processes=settings.classifier_workers)
    else:
        classifier = load_classifier(settings.classifier, settings.flag_thresholds)
    return SafetyPipeline(classifier, sink, workers=settings.classifier_workers,
                          queue_size=settings.classifier_queue, registry=registry, logger=logger)
