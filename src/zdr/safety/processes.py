"""`ProcessClassifier`: run a classifier in child processes, off the gateway's interpreter lock.

A classifier is CPU-bound Python; in a thread of the gateway's process it takes the interpreter
lock from the event loop for milliseconds at a time, which would delay first bytes. Wrapped in a
`ProcessClassifier`, the pipeline's worker threads only hand the text to a child process through
a pipe (kernel memory: no file, no log) and wait, without holding the lock.

Each child is a spawned process (never `fork` from a process with an event loop and threads)
with its own `multiprocessing.Pipe`; it loads the classifier from the configuration spec and
answers one batch per message. The gateway's pipeline takes the children over (`hand_over`) and
drives their pipes from the event loop itself (`zdr.safety.loop_children`): no thread at all.
Called directly (`classify_many`, e.g. from a tool's thread), a calling thread takes an idle child,
sends the batch, and blocks in the pipe until the answer arrives: one wake-up per batch, no
executor threads in between (a `ProcessPoolExecutor` adds a manager thread, a feeder thread and a
future per call).

Errors in a child come back as their type name only (`ChildClassifierError.raised_type`). A child
that exits, or does not answer within `timeout`, is killed and reported (`ClassifierChildExited`,
`TimeoutError`), and a fresh child takes its place at the next call.

The default classifier scores only the last `max_chars` characters of the input and the first
`max_chars` of the output; the child reports that limit when it starts, and the parent trims both
texts to it before they are pickled, so a 200 KB conversation costs 8,000 characters of hand-off
(the same scores: the classifier would cut them there itself). The pipeline keeps the full texts
for what it retains when an exchange is flagged.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from zdr.hardening import harden_process
from zdr.safety.classifier import (
    ClassificationResult,
    Classifier,
    ClassifierUnavailable,
    load_classifier,
)

# What a child sends back for a batch: results as plain tuples (cheaper to pickle than the
# dataclass), or the type name of the error its classifier raised.
_Answer = tuple[bool, list[tuple[str, str, dict[str, float], dict[str, bool]]] | str]
_STOP_CHILD = b""
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class ChildClassifierError(ClassifierUnavailable):
    """The classifier raised in its child process; only the error's type name crosses over."""

    def __init__(self, raised_type: str) -> None:
        super().__init__(f"the classifier raised {raised_type} in its child process")
        self.raised_type = raised_type


class ClassifierChildExited(ClassifierUnavailable):
    """A child process exited (or its pipe broke) during a call; it is replaced at the next."""


# ---- the child's side ----------------------------------------------------------------------------

def _child_identity(classifier: Classifier) -> tuple[str, str, int | None]:
    """Name, version and the input/output character limit (None: the texts are sent whole)."""
    from zdr.safety.default import DefaultClassifier

    limit = None
    if isinstance(classifier, DefaultClassifier) and classifier.max_chars > 0:
        limit = classifier.max_chars
    return classifier.name, classifier.version, limit


def _yield_to_the_gateway() -> None:
    """Background work: a batch sent by the gateway's event loop wakes this process, which must
    not preempt the loop that woke it (on a busy machine the loop would then wait for the whole
    batch's scoring inside its write). `SCHED_BATCH` (Linux) takes the child out of wake-up
    preemption without lowering its share of the CPU; elsewhere it keeps the default."""
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is None:
        return
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, batch, os.sched_param(0))


def _child_main(connection: Connection, spec: str, thresholds: dict[str, float]) -> None:
    """The child process: load the classifier, report its identity, then answer batches until
    the stop message or the pipe closes. Ctrl-C in a terminal reaches the whole process group:
    the child leaves its lifetime to the parent (which stops it, or whose exit closes the pipe)."""
    harden_process()        # it holds the texts it scores: no core dumps (zdr.hardening)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _yield_to_the_gateway()
    try:
        classifier = load_classifier(spec, thresholds)
    except ClassifierUnavailable as error:
        connection.send_bytes(pickle.dumps(error.message, _PROTOCOL))
        return
    connection.send_bytes(pickle.dumps(_child_identity(classifier), _PROTOCOL))
    classify = classifier.classify
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if message == _STOP_CHILD:
            return
        pairs: list[tuple[str, str]] = pickle.loads(message)  # noqa: S301 - our own pipe
        del message
        answer: _Answer
        try:
            results = [classify(input_text, output_text) for input_text, output_text in pairs]
            answer = (True, [(r.classifier, r.version, r.scores, r.labels) for r in results])
        except Exception as error:  # noqa: BLE001 - its type goes back, never its message
            answer = (False, type(error).__name__)
        del pairs
        connection.send_bytes(pickle.dumps(answer, _PROTOCOL))


# ---- the parent's side ---------------------------------------------------------------------------

class _Child:
    """One spawned child process and the parent's end of its pipe."""

    def __init__(self, spec: str, thresholds: dict[str, float]) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=_child_main, args=(child_end, spec, thresholds), name="zdr-classifier-child",
            daemon=True)
        self.process.start()
        child_end.close()
        self._killed = False
        self._kill_lock = threading.Lock()     # close() and a failing call may both kill

    def identity(self, timeout: float) -> tuple[str, str, int | None] | str:
        """The child's (name, version, limit), or its load error; raises on timeout or exit."""
        if not self.connection.poll(timeout):
            raise TimeoutError
        answer: tuple[str, str, int | None] | str = pickle.loads(  # noqa: S301 - own pipe
            self.connection.recv_bytes())
        return answer

    def call(self, pairs: list[tuple[str, str]], timeout: float) -> list[ClassificationResult]:
        connection = self.connection
        connection.send_bytes(pickle.dumps(pairs, _PROTOCOL))
        if not connection.poll(timeout):
            raise TimeoutError
        ok, payload = pickle.loads(connection.recv_bytes())  # noqa: S301 - our child's pipe
        if not ok:
            raise ChildClassifierError(str(payload))
        return [ClassificationResult(*fields) for fields in payload]

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to exit, then make sure it has."""
        with contextlib.suppress(OSError, ValueError):
            self.connection.send_bytes(_STOP_CHILD)
        with contextlib.suppress(ValueError):   # killed meanwhile by a failing call
            self.process.join(timeout)
        self.kill()

    def kill(self) -> None:
        """End the process if it still runs and close the pipe (idempotent)."""
        with self._kill_lock:
            if self._killed:
                return
            self._killed = True
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5.0)
            self.connection.close()
            with contextlib.suppress(ValueError):
                self.process.close()


class ProcessClassifier:
    """The classifier `spec` names, run in `processes` spawned child processes, one call at a
    time each (the pipeline's worker threads take an idle one per batch)."""

    def __init__(
        self,
        spec: str,
        thresholds: Mapping[str, float] | None = None,
        *,
        processes: int = 1,
        timeout: float = 30.0,
        start_timeout: float = 120.0,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self._spec = spec
        self._thresholds = dict(thresholds or {})
        self._timeout = timeout
        self._start_timeout = start_timeout
        self._lock = threading.Lock()
        self._closed = False
        self._handed_over = False       # the event loop drives the children (`hand_over`)
        self._children: list[_Child] = []       # all started and not yet stopped
        # idle children; None is a free place whose child died (a new one starts at next use)
        self._idle: queue.SimpleQueue[_Child | None] = queue.SimpleQueue()
        started = [self._spawn() for _ in range(processes)]      # they load in parallel
        identities = [self._identity_of(child) for child in started]
        for identity in identities:
            if isinstance(identity, str):
                self.close()
                raise ClassifierUnavailable(identity)
        first = identities[0]
        assert not isinstance(first, str)
        self.name, self.version, self.max_chars = first
        for child in started:
            self._idle.put(child)

    def _spawn(self) -> _Child:
        child = _Child(self._spec, self._thresholds)
        with self._lock:
            self._children.append(child)
        return child

    def _identity_of(self, child: _Child) -> tuple[str, str, int | None] | str:
        try:
            return child.identity(self._start_timeout)
        except (TimeoutError, EOFError, OSError) as error:
            self.close()
            raise ClassifierUnavailable(
                f"classifier {self._spec!r} failed to start in a child process "
                f"({type(error).__name__})") from None

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        [result] = self.classify_many([(input_text, output_text)])
        return result

    def classify_many(self, pairs: list[tuple[str, str]]) -> list[ClassificationResult]:
        """Several exchanges in one round trip to a child (the pipeline batches what is queued).
        Raises `ChildClassifierError`, `ClassifierChildExited` or `TimeoutError` (the child is
        then replaced), or `RuntimeError` once closed."""
        pairs = [self.trimmed(input_text, output_text) for input_text, output_text in pairs]
        child = self._take()
        try:
            results = child.call(pairs, self._timeout)
        except ChildClassifierError:
            self._idle.put(child)
            raise
        except (TimeoutError, EOFError, OSError, ValueError) as error:
            self._discard(child)
            if isinstance(error, TimeoutError):
                raise TimeoutError("the classifier's child process did not answer in time; "
                                   "it is replaced") from None
            raise ClassifierChildExited(
                f"the classifier's child process exited ({type(error).__name__}); "
                "it is replaced") from None
        except BaseException:
            self._discard(child)        # e.g. an unpicklable text: the pipe's state is unknown
            raise
        self._idle.put(child)
        return results

    def _take(self) -> _Child:
        """An idle child (waiting up to `timeout` when all are busy), started anew if the
        place's last one died."""
        if self._closed:
            raise RuntimeError("the classifier's child processes are stopped")
        if self._handed_over:
            raise RuntimeError("the classifier's child processes are driven by the event loop")
        try:
            child = self._idle.get(timeout=self._timeout)
        except queue.Empty:
            raise TimeoutError("no classifier child process was free in time") from None
        if child is not None:
            return child
        try:
            child = self._spawn()
            identity = child.identity(self._start_timeout)
        except Exception as error:  # noqa: BLE001 - any start failure: the place stays free
            self._idle.put(None)
            raise ClassifierChildExited(
                f"a new classifier child process failed to start ({type(error).__name__})"
            ) from None
        if isinstance(identity, str):       # the classifier no longer loads: report the path
            self._discard(child)
            raise ClassifierUnavailable(identity)
        if self._closed:
            self._discard(child)
            raise RuntimeError("the classifier's child processes are stopped")
        return child

    # ---- the event loop drives the children (zdr.safety.loop_children) ------------------------
    @property
    def timeout(self) -> float:
        """Seconds a child has to answer a batch before it is killed and replaced."""
        return self._timeout

    def hand_over(self) -> list[_Child | None]:
        """Each place's idle child (None: a place whose child died), for a single owner that
        talks to their pipes itself (the event loop); `classify` and `classify_many` then raise
        `RuntimeError`. `close` still stops every child this classifier started."""
        self._handed_over = True
        places: list[_Child | None] = []
        while True:
            try:
                places.append(self._idle.get_nowait())
            except queue.Empty:
                return places

    def replacement(self) -> _Child:
        """A new child that has loaded the classifier (blocks: call it off the loop). Raises
        `ClassifierChildExited` if it fails to start, `ClassifierUnavailable` if the classifier
        no longer loads, `RuntimeError` once closed."""
        if self._closed:
            raise RuntimeError("the classifier's child processes are stopped")
        child = None
        try:
            child = self._spawn()
            identity = child.identity(self._start_timeout)
        except Exception as error:  # noqa: BLE001 - any start failure is reported by type
            if child is not None:
                self.forget(child)
            raise ClassifierChildExited(
                f"a new classifier child process failed to start ({type(error).__name__})"
            ) from None
        if isinstance(identity, str):
            self.forget(child)
            raise ClassifierUnavailable(identity)
        if self._closed:
            self.forget(child)
            raise RuntimeError("the classifier's child processes are stopped")
        return child

    def forget(self, child: _Child) -> None:
        """Kill `child` (blocks until it has exited) and drop it from this classifier."""
        with self._lock:
            if child in self._children:
                self._children.remove(child)
        child.kill()

    def _discard(self, child: _Child) -> None:
        """Kill `child` and free its place for a replacement."""
        with self._lock:
            if child in self._children:
                self._children.remove(child)
        child.kill()
        self._idle.put(None)

    def trimmed(self, input_text: str, output_text: str) -> tuple[str, str]:
        """What the child's classifier would score anyway: the input's end, the output's start."""
        limit = self.max_chars
        if limit is None:
            return input_text, output_text
        return input_text[-limit:], output_text[:limit]

    @property
    def pids(self) -> list[int | None]:
        """The child processes' ids (for tests and CPU accounting)."""
        with self._lock:
            return [child.process.pid for child in self._children]

    def close(self) -> None:
        """Stop every child process (a call in progress then fails with `ClassifierChildExited`);
        later calls raise `RuntimeError`."""
        with self._lock:
            self._closed = True
            children, self._children = self._children, []
        for child in children:
            child.stop()
