"""One writer thread per process: a bounded queue in, group commits out.

Callers (on the event loop) append jobs to a bounded deque (no lock: an append is atomic, and
only the writer thread takes from it); the thread takes whatever has accumulated (up to
`max_batch`), writes it in ONE transaction and then resolves the jobs' futures on their loops,
one hand-over per loop. While one batch commits, the next one fills up, so under load each
commit (and each fsync) is shared by many exchanges: group commit. A caller wakes the thread
only when it sleeps for want of jobs, or to cut a linger short (an urgent job): not per job.

How long a batch waits for company (its deadline is the earliest any of its jobs allows):
- an urgent job (`wait=True` and no `linger`: a client waits for it before its last byte): not
  at all while such callers arrive one by one; under load (the previous batch held more than one
  urgent job) at most `linger` seconds, 0.5 ms;
- any other job: its own `linger` (`submit(..., linger=...)`; by default `idle_linger`, 3 ms),
  so fire-and-forget metadata, and results a background task awaits, share a transaction even
  at low concurrency. An urgent job arriving meanwhile cuts the wait short: it never waits
  longer than it would alone.

Failures: a batch that fails is retried (transient errors: connection loss, lock timeouts) with
backoff for about `retry_seconds`; then each job is tried on its own so one bad job cannot fail
its neighbours; a job that still fails gets the error on its future (`StoreUnavailable`). No job
is acknowledged before its transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from zdr.errors import DatabaseUnavailable, StoreUnavailable
from zdr.store.failures import untranslated_types

log = logging.getLogger("zdr.store.writer")

J = TypeVar("J")


@dataclass(slots=True)
class Ticket(Generic[J]):
    """A job and, when its caller waits for durability, the future to resolve after commit."""

    job: J | None                                  # None: a flush barrier
    future: asyncio.Future[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    error: BaseException | None = field(default=None)
    linger: float = 0.0                            # non-urgent jobs: how long it may wait
    urgent: bool = False                           # awaited, and may not wait for company

    def settle(self) -> None:
        """Resolve the future (on its loop's thread)."""
        future = self.future
        if future is None or future.done():
            return
        if self.error is None:
            future.set_result(None)
        else:
            future.set_exception(self.error)


def _settle_all(tickets: list[Ticket[Any]]) -> None:
    for ticket in tickets:
        ticket.settle()


def resolve(tickets: Sequence[Ticket[Any]]) -> None:
    """Wake the waiting callers: one hand-over per event loop and batch, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Ticket[Any]]] = {}
    for ticket in tickets:
        if ticket.future is not None and ticket.loop is not None:
            by_loop.setdefault(ticket.loop, []).append(ticket)
    for loop, waiting in by_loop.items():
        # RuntimeError: the caller's loop has closed; nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_all, waiting)


_STOP = object()


class BatchWriter(Generic[J]):
    """Runs `commit(jobs)` in one thread, in batches, with back-pressure on a bounded queue.

    `commit` must write all jobs in one transaction or raise (jobs come ready to write: the
    sink encrypts content before it submits it).
    """

    def __init__(
        self,
        commit: Callable[[Sequence[J]], None],
        *,
        capacity: int = 10_000,
        max_batch: int = 512,
        put_timeout: float = 10.0,
        retry_seconds: float = 5.0,
        linger: float = 0.0005,
        idle_linger: float = 0.003,
        name: str = "zdr-store-writer",
        on_retry: Callable[[], None] | None = None,
        on_idle: Callable[[], None] = lambda: None,
        idle_after: float = 1.0,
    ) -> None:
        """`on_idle`: called (in the writer thread) once the queue has stayed empty for
        `idle_after` seconds, before the thread blocks until the next job (the sink returns
        its held connection to the pool)."""
        self._commit = commit
        self._items: deque[Any] = deque()      # appended by callers, taken by the thread
        self.capacity = capacity
        self.max_batch = max_batch
        self.put_timeout = put_timeout
        self.retry_seconds = retry_seconds
        self.linger = linger
        self.idle_linger = idle_linger
        self._name = name
        self._on_retry = on_retry
        self._on_idle = on_idle
        self.idle_after = idle_after
        self._thread: threading.Thread | None = None
        # Set by a caller whose job the thread must see now: any job while the thread sleeps
        # for want of one (`_idle`), an urgent job while it lingers for company.
        self._wake = threading.Event()
        self._idle = False
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0
        self.jobs_written = 0
        self.full_events = 0

    # -- producer side (event loop) -----------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self._items)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the store writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def queue(self, job: J, linger: float | None = None) -> bool:
        """Enqueue `job`, which nobody awaits, if the queue has room (False if not: the caller
        then awaits `submit`, which waits for room). It may wait `linger` seconds for company
        (by default `idle_linger`). No coroutine, no future: what the event loop pays per
        fire-and-forget record."""
        if self._thread is None or self._closed:
            self.start()
        return self._put(Ticket(job, linger=self.idle_linger if linger is None else linger))

    def _put(self, ticket: Ticket[J]) -> bool:
        """Append `ticket` unless the queue is full; wake the thread if it must see it now.
        (Callers on several threads may overshoot `capacity` by one each: a soft bound.)"""
        items = self._items
        if len(items) >= self.capacity:
            return False
        items.append(ticket)
        # Appended before `_idle` is read; the thread sets `_idle`, clears `_wake`, then looks
        # at the deque before it sleeps: it sees the job, or is woken.
        if self._idle or ticket.urgent:
            self._wake.set()
        return True

    async def submit(self, job: J | None, *, wait: bool, linger: float | None = None) -> None:
        """Enqueue `job`; with `wait`, return only once it is committed (or raise). A job may
        wait up to `linger` seconds for company; without `linger` an awaited job is urgent (waits
        only under load, see the module docstring) and any other waits `idle_linger`."""
        if self._thread is None or self._closed:
            self.start()
        ticket: Ticket[J] = Ticket(job)
        if wait:
            ticket.loop = asyncio.get_running_loop()
            ticket.future = ticket.loop.create_future()
        if wait and linger is None:
            ticket.urgent = True
        else:
            ticket.linger = self.idle_linger if linger is None else linger
        if not self._put(ticket):   # an urgent one also cuts a lingering batch short
            self.full_events += 1
            accepted = await asyncio.to_thread(self._put_blocking, ticket)
            if not accepted:
                raise StoreUnavailable("the store is not keeping up: its write queue is full") \
                    from None
        if ticket.future is not None:
            await ticket.future

    def _put_blocking(self, ticket: Ticket[J]) -> bool:
        """Wait for room up to `put_timeout` (only while the queue is full: overload)."""
        deadline = time.monotonic() + self.put_timeout
        while not self._put(ticket):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(remaining, 0.005))
        return True

    async def flush(self) -> None:
        """Wait until every job enqueued before this call is committed."""
        await self.submit(None, wait=True)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._items.append(_STOP)
            self._wake.set()
            thread.join(timeout)

    # -- consumer side (writer thread) --------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        last_urgent = 0
        items = self._items
        take = items.popleft
        wake = self._wake
        monotonic = time.monotonic
        while not stopping:
            first = self._next()
            if first is _STOP:
                break
            batch: list[Ticket[J]] = [first]
            # Urgent jobs linger only under load (the last batch had several): a lone caller
            # never waits. Other jobs wait up to their own linger, cut short by urgent ones.
            shared = self.linger if last_urgent > 1 else 0.0
            deadline = monotonic() + (shared if first.urgent else first.linger)
            while len(batch) < self.max_batch:
                if not items:
                    wait = deadline - monotonic()
                    if wait <= 0:
                        break
                    # Sleep out the linger: jobs queued meanwhile do not wake the thread (one
                    # wake-up per job costs more CPU than writing it); an urgent job does.
                    if wake.wait(wait):
                        wake.clear()
                    continue
                item = take()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                allowed = shared if item.urgent else item.linger
                deadline = min(deadline, monotonic() + allowed)
            last_urgent = sum(1 for t in batch if t.urgent)
            self._write(batch)

    def _next(self) -> Any:
        """The next queue item, waiting for one; after `idle_after` seconds without one,
        `on_idle` first."""
        items = self._items
        if items:
            return items.popleft()
        wake = self._wake
        idle_hook_ran = False
        self._idle = True           # from now on every caller wakes the thread (see `_put`)
        try:
            while True:
                wake.clear()
                if items:
                    return items.popleft()
                if idle_hook_ran:
                    wake.wait()
                elif not wake.wait(self.idle_after):
                    idle_hook_ran = True
                    try:
                        self._on_idle()
                    except Exception as error:  # noqa: BLE001 - must not stop the writer
                        log.warning("store writer idle hook failed (%s)", type(error).__name__)
        finally:
            self._idle = False

    def _write(self, batch: list[Ticket[J]]) -> None:
        jobs = [t.job for t in batch if t.job is not None]
        try:
            if jobs:
                self._commit_with_retries(jobs)
        except Exception as error:  # noqa: BLE001 - isolate the job(s) that fail
            log.warning("store batch of %d failed (%s); writing one by one",
                        len(jobs), type(error).__name__)
            for ticket in batch:
                if ticket.job is None:
                    continue
                try:
                    self._commit([ticket.job])
                except Exception as single:  # noqa: BLE001 - reported to the waiting caller
                    log.error("store write failed: %s", type(single).__name__)
                    ticket.error = StoreUnavailable("the store could not write this exchange")
        else:
            self.batches += 1
            self.jobs_written += len(jobs)
        resolve(batch)

    def _commit_with_retries(self, jobs: list[J]) -> None:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.02
        retried: tuple[type[Exception], ...] = (DatabaseUnavailable, *untranslated_types())
        while True:
            try:
                self._commit(jobs)
                return
            except retried:
                if self._on_retry is not None:
                    self._on_retry()
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
