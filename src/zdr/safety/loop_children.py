"""`LoopChildren`: the event loop itself drives the classifier's child processes — no thread.

    SafetyPipeline.submit / submit_parts (event loop)
        │ put(job)
        ├─ room (`capacity` exchanges waiting): queued; a dispatch once the first has waited
        │  BATCH_WINDOW_SECONDS (at once when CLASSIFY_BATCH are queued, or when stopping)
        └─ no room, or stopping: `sample_out(meta)` (a text-free result, counted)
        ▼
    dispatch: each idle child gets one message with up to CLASSIFY_BATCH queued exchanges
        │ (pickled, written to its pipe by an asyncio transport: a write the pipe cannot take
        │  at once is buffered and finished when the pipe is writable, never blocking the loop)
        ▼
    the child answers on the same pipe; the transport reads it when readable (no thread)
        │ results → records (+ flagged content if the decision keeps it)
        ▼
    ResultHandoff.write_on_loop: the batch's SafetySink writes, on the loop, under one timeout

With the classifier in child processes (`ProcessClassifier`, the gateway's choice) this replaces
the worker threads and the hop back to the loop: each batch wakes nothing but the child. The
children and their pipes are the `ProcessClassifier`'s (spawned and loaded before the loop takes
them over, `hand_over`); the loop speaks the pipes' framing (`multiprocessing.Connection`'s: a
4-byte big-endian length, or -1 and an 8-byte length, then the bytes) to the unchanged child.

An exchange with more than CLASSIFY_BATCH texts (`submit_parts`) goes to its child in several
messages, one after the other. A child that raises answers with the error's type name: its batch
gets empty results. A child that exits, closes its pipe, sends what cannot be read, or does not
answer within the classifier's `timeout` is killed: its batch's exchanges get empty results
(`zdr_classifier_errors_total{stage="classify"}`, a log line per exchange with its id and the
error's type name), and a fresh child is started in its place (spawning blocks: a thread does
it, only then). A place whose new child fails to start tries again when work arrives, failing
one batch first, so a classifier that no longer loads costs one attempt per batch, not a loop.

Results waiting for the sink are bounded too: while `slots` results are being written, no new
batch is sent (the queue fills and later exchanges are sampled out). `stop` sends what is queued,
waits for the answers until its deadline, then records what is still queued as sampled out and
what a child still holds as failed, and closes the pipes (each child exits on the stop message or
the closed pipe). The text lives in the queued job, the batch being classified and the pipe's
buffer; it is never logged and never in an exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zdr.ports import ExchangeMetadata
from zdr.safety.classifier import ClassificationResult
from zdr.safety.handoff import ResultHandoff
from zdr.safety.jobs import CLASSIFY_BATCH, Job, Outcome
from zdr.safety.metrics import SafetyMetrics
from zdr.safety.outcomes import Outcomes
from zdr.safety.parts import Pair
from zdr.safety.processes import (
    ChildClassifierError,
    ClassifierChildExited,
    ProcessClassifier,
    _Child,
)

_SIZE = struct.Struct("!i")
_LONG_SIZE = struct.Struct("!Q")
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_STOP_MESSAGE = _SIZE.pack(0)       # an empty message: the child exits
# How long the first exchange queued waits for others to share its message (unless a full batch
# is queued first). Sending at once costs a message per exchange or two under load — the child's
# and the loop's per-message work (a wake-up, two system calls, a write task) then outweighs the
# scoring itself; results are off the response path, so a few milliseconds cost nothing.
BATCH_WINDOW_SECONDS = 0.01
# the most `stop` waits between looks at whether the work is done
_STOP_POLL_SECONDS = 0.005


def framed(payload: bytes) -> list[bytes]:
    """`payload` as `multiprocessing.Connection.send_bytes` frames it (a small one in one piece)."""
    size = len(payload)
    if size > 0x7FFFFFFF:
        return [_SIZE.pack(-1) + _LONG_SIZE.pack(size), payload]
    if size < 16384:
        return [_SIZE.pack(size) + payload]
    return [_SIZE.pack(size), payload]


class _ChildPipe(asyncio.Protocol):
    """The parent's end of one child's pipe: whole messages out of the byte stream."""

    def __init__(self, owner: LoopChildren, place: _Place) -> None:
        self._owner = owner
        self._place = place
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        if not buffer and len(data) >= 4 and _SIZE.unpack_from(data)[0] == len(data) - 4:
            self._owner._answered(self._place, self, data[4:])     # the usual: one whole answer
            return
        buffer += data
        while not self.closed and len(buffer) >= 4:
            size = _SIZE.unpack_from(buffer)[0]
            start = 4
            if size == -1:
                if len(buffer) < 12:
                    return
                size, start = _LONG_SIZE.unpack_from(buffer, 4)[0], 12
            end = start + size
            if size < 0 or len(buffer) < end:
                if size < 0:
                    self._owner._pipe_lost(self._place, self, ClassifierChildExited(
                        "the classifier's child process sent an unreadable message"))
                return
            message = bytes(buffer[start:end])
            del buffer[:end]
            self._owner._answered(self._place, self, message)

    def eof_received(self) -> bool:
        return False            # the child closed its end: close ours (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        self._buffer.clear()
        if not self.closed:
            self._owner._pipe_lost(self._place, self, ClassifierChildExited(
                "the classifier's child process exited (EOFError); it is replaced"))

    def write(self, payload: bytes) -> None:
        """Queue one message; what the pipe cannot take now is written when it is writable."""
        if self.transport is None:
            raise ClassifierChildExited("the classifier's child process has no pipe")
        for piece in framed(payload):
            self.transport.write(piece)

    def close(self, *, graceful: bool) -> None:
        """Stop reading; `graceful`: send the stop message and close once written, else drop
        what is unwritten."""
        self.closed = True
        self._buffer.clear()
        transport = self.transport
        if transport is None:
            return
        if graceful:
            with contextlib.suppress(Exception):
                transport.write(_STOP_MESSAGE)
            transport.close()
        else:
            transport.abort()


@dataclass(eq=False)
class _Batch:
    """Jobs sent to one child: their pairs go in messages of at most CLASSIFY_BATCH."""

    jobs: list[Job]
    pairs: list[Pair] = field(repr=False)
    started: float
    sent: int = 0               # pairs sent so far
    waiting: int = 0            # pairs of the message the child is answering
    results: list[ClassificationResult] = field(default_factory=list, repr=False)


@dataclass(eq=False)
class _Place:
    """One child's place: its process and pipe when running, the batch it holds."""

    child: _Child | None = None
    pipe: _ChildPipe | None = None
    batch: _Batch | None = None
    timer: asyncio.TimerHandle | None = None
    starting: bool = False
    failure: BaseException | None = None    # why its last new child failed to start


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopChildren:
    """Classifies queued jobs in `classifier`'s child processes from the event loop, writing the
    results through `handoff`. `start` on the loop first."""

    def __init__(self, classifier: ProcessClassifier, handoff: ResultHandoff,
                 metrics: SafetyMetrics, log: Any, *, capacity: int, slots: int,
                 sample_out: Callable[[ExchangeMetadata], None]) -> None:
        self.classifier = classifier
        self.capacity = capacity
        self._handoff = handoff
        self._metrics = metrics
        self._log = log
        self._slots = slots
        self._sample_out = sample_out
        self._outcomes = Outcomes(classifier, metrics, log)
        self._queue: deque[Job] = deque()
        self._places: list[_Place] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatch_soon = False     # a dispatch is due this loop iteration
        self._dispatch_timer: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0       # loop time the oldest queued job was queued (about)
        self._accepting = True
        self._closed = False
        self._starts: set[asyncio.Task[None]] = set()

    # ---- the loop's side: taking jobs ------------------------------------------------------------
    def put(self, job: Job) -> None:
        """Queue `job` if there is room, else sample its exchange out. Never blocks or raises."""
        if self._accepting and len(self._queue) < self.capacity:
            loop = self._loop
            if loop is None:                    # before `start`: sent once it runs
                self._queue.append(job)
                return
            if _running_loop() is loop:
                queue = self._queue
                queue.append(job)
                if len(queue) == 1:
                    self._waiting_since = loop.time()
                    self._schedule()
                elif len(queue) == CLASSIFY_BATCH:
                    self._schedule(now=True)
                return
            with contextlib.suppress(RuntimeError):     # another thread: via the loop
                loop.call_soon_threadsafe(self._put_on_loop, job)
                return
        self._sample_out(job.meta)

    def _put_on_loop(self, job: Job) -> None:
        if self._accepting and len(self._queue) < self.capacity:
            if not self._queue and self._loop is not None:
                self._waiting_since = self._loop.time()
            self._queue.append(job)
            self._schedule()
        else:
            self._sample_out(job.meta)

    def depth(self) -> int:
        """Exchanges waiting to be sent to a child."""
        return len(self._queue)

    def _schedule(self, *, now: bool = False) -> None:
        """Dispatch once the oldest queued job has waited BATCH_WINDOW_SECONDS, or at once
        when a full batch is queued or the pipeline is stopping."""
        loop = self._loop
        if loop is None or not self._queue or self._dispatch_soon:
            return
        delay = self._waiting_since + BATCH_WINDOW_SECONDS - loop.time()
        if now or delay <= 0 or not self._accepting or len(self._queue) >= CLASSIFY_BATCH:
            if self._dispatch_timer is not None:
                self._dispatch_timer.cancel()
                self._dispatch_timer = None
            self._dispatch_soon = True
            loop.call_soon(self._dispatch)
        elif self._dispatch_timer is None:
            self._dispatch_timer = loop.call_later(delay, self._dispatch)

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """On the loop: take over the classifier's children and their pipes."""
        self._loop = asyncio.get_running_loop()
        for child in self.classifier.hand_over() or [None]:
            place = _Place()
            self._places.append(place)
            if child is None:
                self._replace(place, None)
                continue
            try:
                await self._adopt(place, child)
            except Exception as error:  # noqa: BLE001 - its place gets a fresh child
                self._log.warning("classifier_child_lost", error_type=type(error).__name__)
                self._replace(place, child)
        self._schedule()

    async def stop(self, deadline: float) -> None:
        """Take no more jobs; classify what is queued until `deadline`, then record what is
        still queued as sampled out and what a child still holds as failed; close the pipes."""
        self._accepting = False
        if self._loop is not None:          # never started: nothing can be classified
            self._dispatch()
        while self._loop is not None and time.monotonic() < deadline and (
                self._queue or any(place.batch is not None for place in self._places)):
            await asyncio.sleep(min(_STOP_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        self._closed = True
        while self._queue:
            job = self._queue.popleft()
            self._sample_out(job.meta)
            del job             # its text is dropped unread
        for place in self._places:
            if place.batch is not None:
                self._lost(place, TimeoutError())
            elif place.pipe is not None:
                place.pipe.close(graceful=True)
                place.pipe = None
        if self._starts:        # a child starting or being reaped: `replacement` sees the close
            await asyncio.wait(set(self._starts),
                               timeout=max(0.1, deadline - time.monotonic()))

    # ---- sending batches -------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Each idle child gets up to CLASSIFY_BATCH of what is queued, in one message."""
        self._dispatch_soon = False
        if self._dispatch_timer is not None:
            self._dispatch_timer.cancel()
            self._dispatch_timer = None
        queue = self._queue
        for place in self._places:
            if not queue:
                return
            if place.batch is not None or place.starting:
                continue
            if self._handoff.writing >= self._slots:
                return          # the results' writes are behind: `written` dispatches again
            if place.pipe is None:
                if self._closed:
                    continue
                if place.failure is not None:      # its last start failed: this batch fails
                    failure, place.failure = place.failure, None
                    self._fail(self._take_batch(), failure)
                self._replace(place, None)
                continue
            place.batch = self._take_batch()
            self._send_next(place)

    def _take_batch(self) -> _Batch:
        queue = self._queue
        jobs = [queue.popleft() for _ in range(min(len(queue), CLASSIFY_BATCH))]
        if queue:               # what is left waits its own window, counted from now
            self._waiting_since = asyncio.get_running_loop().time()
        pairs = [pair for job in jobs for pair in job.pairs()]
        return _Batch(jobs, pairs, time.perf_counter())

    def _send_next(self, place: _Place) -> None:
        """Send the batch's next message (up to CLASSIFY_BATCH pairs, trimmed to what the
        child's classifier scores) and start its timer."""
        batch, pipe, loop = place.batch, place.pipe, self._loop
        assert batch is not None and pipe is not None and loop is not None
        trimmed = self.classifier.trimmed
        chunk = [trimmed(input_text, output_text) for input_text, output_text
                 in batch.pairs[batch.sent:batch.sent + CLASSIFY_BATCH]]
        batch.sent += len(chunk)
        batch.waiting = len(chunk)
        try:
            payload = pickle.dumps(chunk, _PROTOCOL)
        except Exception as error:  # noqa: BLE001 - the child has nothing yet: it stays
            place.batch = None
            self._fail(batch, error)
            self._schedule()
            return
        del chunk
        try:
            pipe.write(payload)
        except Exception as error:  # noqa: BLE001 - a broken pipe: a fresh child, batch failed
            self._lost(place, error)
            return
        del payload
        place.timer = loop.call_later(self.classifier.timeout, self._timed_out, place)

    # ---- answers ---------------------------------------------------------------------------------
    def _answered(self, place: _Place, pipe: _ChildPipe, message: bytes) -> None:
        if place.pipe is not pipe:
            return
        if place.timer is not None:
            place.timer.cancel()
            place.timer = None
        batch = place.batch
        try:
            if batch is None:
                raise ValueError("an answer nobody asked for")
            ok, payload = pickle.loads(message)  # noqa: S301 - our own child's pipe
            if not ok:
                raise ChildClassifierError(str(payload))
            results = [ClassificationResult(*fields) for fields in payload]
            if len(results) != batch.waiting:
                raise ValueError("the child answered a different number of results")
        except ChildClassifierError as error:
            assert batch is not None
            place.batch = None
            self._fail(batch, error)            # the child is fine and keeps serving
            self._schedule()
            return
        except Exception:  # noqa: BLE001 - the pipe's state is unknown: a fresh child
            self._lost(place, ClassifierChildExited(
                "the classifier's child process sent an unreadable answer; it is replaced"))
            return
        batch.results.extend(results)
        if batch.sent < len(batch.pairs):
            self._send_next(place)
            return
        place.batch = None
        self._finish(batch, batch.results)
        self._schedule()

    def _finish(self, batch: _Batch, results: list[ClassificationResult]) -> None:
        """Records for the batch's jobs from their pairs' results, written on the loop."""
        jobs = batch.jobs
        each = (time.perf_counter() - batch.started) / max(1, len(jobs))
        observe = self._metrics.seconds.observe
        outcome = self._outcomes.outcome
        outcomes: list[Outcome] = []
        first = 0
        for job in jobs:
            observe(each)
            count = len(job.pairs())
            outcomes.append((job.meta, *outcome(job, results[first:first + count])))
            first += count
        jobs.clear()            # the batch held the only queued references to the text
        batch.pairs.clear()
        results.clear()
        self._handoff.write_on_loop(outcomes, self._schedule)

    def _fail(self, batch: _Batch, error: BaseException) -> None:
        """The batch's exchanges get empty results, counted and logged by type."""
        self._outcomes.failed(batch.jobs, error)
        self._finish(batch, [self._outcomes.empty_result()] * len(batch.pairs))

    # ---- a child lost, and its replacement -------------------------------------------------------
    def _timed_out(self, place: _Place) -> None:
        place.timer = None
        self._lost(place, TimeoutError("the classifier's child process did not answer in time; "
                                       "it is replaced"))

    def _pipe_lost(self, place: _Place, pipe: _ChildPipe, error: BaseException) -> None:
        if place.pipe is pipe:
            self._lost(place, error)

    def _lost(self, place: _Place, error: BaseException) -> None:
        """Kill the place's child, fail its batch, and start a fresh child (unless stopping)."""
        if place.timer is not None:
            place.timer.cancel()
            place.timer = None
        batch, child, pipe = place.batch, place.child, place.pipe
        place.batch = place.child = place.pipe = None
        if pipe is not None:
            pipe.close(graceful=False)
        if child is not None:
            with contextlib.suppress(Exception):    # at once; reaped by `_replace`'s thread
                child.process.kill()
        if batch is not None:
            self._fail(batch, error)
        self._replace(place, child)

    def _replace(self, place: _Place, old: _Child | None) -> None:
        """Reap `old` and, unless stopping, start a fresh child in `place` (a thread spawns)."""
        if self._closed and old is None:
            return
        place.starting = not self._closed
        task = asyncio.get_running_loop().create_task(self._start_child(place, old))
        self._starts.add(task)
        task.add_done_callback(self._starts.discard)

    async def _start_child(self, place: _Place, old: _Child | None) -> None:
        try:
            if old is not None:
                await asyncio.to_thread(self.classifier.forget, old)
            if self._closed:
                return
            child = await asyncio.to_thread(self.classifier.replacement)
            if self._closed:
                await asyncio.to_thread(self.classifier.forget, child)
                return
            await self._adopt(place, child)
            place.failure = None
        except Exception as error:  # noqa: BLE001 - tried again when work arrives
            place.failure = error
            self._log.warning("classifier_child_start_failed", error_type=type(error).__name__)
        finally:
            place.starting = False
            self._schedule()

    async def _adopt(self, place: _Place, child: _Child) -> None:
        """Read and write `child`'s pipe from the loop from now on."""
        loop = asyncio.get_running_loop()
        connection = child.connection
        sock = socket.socket(fileno=os.dup(connection.fileno()))
        connection.close()
        sock.setblocking(False)
        pipe = _ChildPipe(self, place)
        try:
            await loop.connect_accepted_socket(lambda: pipe, sock)
        except BaseException:
            sock.close()
            raise
        place.child, place.pipe = child, pipe

    @property
    def pids(self) -> list[int | None]:
        """The running children's process ids."""
        return [place.child.process.pid for place in self._places if place.child is not None]
