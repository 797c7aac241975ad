"""`JobQueue`: the exchanges waiting for the classifier, bounded; what does not fit is sampled out.

    SafetyPipeline.submit / submit_parts (event loop)
        │ put(job)
        ├─ room left, on the pipeline's loop: collected; one `call_soon` flush per loop
        │  iteration puts them on the queue as one item per `CLASSIFY_BATCH` exchanges
        ├─ room left, any other thread (or before `start`): queued at once, an item of one
        └─ no room, or stopped: `sample_out(meta)` (a text-free result, counted)
        ▼
    queue items ──get / take / take_more──► worker threads (zdr.safety.executor)

A burst of submits wakes a worker once, not once per exchange. The capacity counts exchanges
(collected, queued, or taken by a worker and not yet started), not queue items. A worker keeps
what it has taken and not started in a deque registered here (`worker_jobs`), so `drain` can
reclaim it from a worker that is stuck past the stop's timeout. Only jobs hold references to the
text: a queue item is emptied as it is taken, and `drain` returns metadata only.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import Callable

from zdr.ports import ExchangeMetadata
from zdr.safety.jobs import CLASSIFY_BATCH, Job

# What `get` returns to a worker that is to exit.
STOP = object()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class JobQueue:
    """Bounded (`capacity` exchanges) hand-over of jobs from the loop to the worker threads."""

    def __init__(self, capacity: int, sample_out: Callable[[ExchangeMetadata], None]) -> None:
        self.capacity = capacity
        self._sample_out = sample_out
        self._items: queue.SimpleQueue[list[Job] | object] = queue.SimpleQueue()
        self._collected: list[Job] = []     # put on the loop since its last flush
        # exchanges collected, queued or taken by a worker and not started: `_lock`
        self._queued = 0
        self._lock = threading.Lock()
        self._taken: list[deque[Job]] = []  # each worker's taken, not yet started jobs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = True

    # ---- the loop's side -----------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on, puts on `loop` are collected per loop iteration."""
        self._loop = loop

    def put(self, job: Job) -> None:
        """Queue `job` if there is room, else sample its exchange out. Never blocks or raises."""
        if self._accepting:
            loop = self._loop
            if loop is not None and _running_loop() is loop:
                collected = self._collected
                if self._queued + len(collected) < self.capacity:
                    collected.append(job)
                    if len(collected) == 1:
                        loop.call_soon(self.flush)
                    return
            elif self._put_now(job):
                return
        self._sample_out(job.meta)

    def flush(self) -> None:
        """On the loop: hand what this iteration collected to the workers (one queue item per
        `CLASSIFY_BATCH`, so one wake-up for a burst)."""
        jobs = self._collected
        if not jobs:
            return
        with self._lock:
            self._queued += len(jobs)
        self._collected = []
        if len(jobs) <= CLASSIFY_BATCH:
            self._items.put(jobs)
            return
        for start in range(0, len(jobs), CLASSIFY_BATCH):
            self._items.put(jobs[start:start + CLASSIFY_BATCH])
        jobs.clear()

    def _put_now(self, job: Job) -> bool:
        """Queue one job at once (a caller off the loop, or before `bind`) if there is room."""
        with self._lock:
            if self._queued + len(self._collected) >= self.capacity:
                return False
            self._queued += 1
        self._items.put([job])
        return True

    def depth(self) -> int:
        """Exchanges waiting to be classified (collected on the loop, queued, or taken by a
        worker and not started)."""
        return self._queued + len(self._collected)

    def close(self) -> None:
        """Take no more jobs (later puts are sampled out); what was collected goes first."""
        self._accepting = False
        self.flush()

    def stop_workers(self, count: int) -> None:
        """Each of `count` workers exits at its next `get`."""
        for _ in range(count):
            self._items.put(STOP)

    def drain(self) -> list[ExchangeMetadata]:
        """Take every job not started, queued or taken by a (stuck) worker, dropping its text
        unread: the exchanges' metadata."""
        metas: list[ExchangeMetadata] = []
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, list):
                self.started(len(item))
                metas.extend(job.meta for job in item)
                item.clear()
        for taken in self._taken:
            while True:
                try:
                    job = taken.popleft()
                except IndexError:
                    break
                self.started(1)
                metas.append(job.meta)
        return metas

    # ---- the workers' side ---------------------------------------------------------------------
    def worker_jobs(self) -> deque[Job]:
        """A new worker's deque of taken, not yet started jobs (`drain` can reclaim them)."""
        jobs: deque[Job] = deque()
        with self._lock:
            self._taken.append(jobs)
        return jobs

    def get(self) -> list[Job] | object:
        """The next queue item (a list of jobs), or `STOP`; blocks until there is one."""
        return self._items.get()

    @staticmethod
    def take(item: list[Job], jobs: deque[Job]) -> None:
        """Move a queue item into a worker's `jobs` (still waiting: counted until started)."""
        jobs.extend(item)
        item.clear()            # the item held the only queued references to the text

    def take_more(self, jobs: deque[Job], wanted: int) -> None:
        """Add what is queued now to `jobs`, until it holds `wanted` (a stop is left for the
        next `get`)."""
        while len(jobs) < wanted:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return
            if item is STOP:
                self._items.put(STOP)       # handled by the next get
                return
            assert isinstance(item, list)
            self.take(item, jobs)

    def started(self, count: int) -> None:
        """`count` taken jobs are being classified: no longer waiting."""
        with self._lock:
            self._queued -= count
