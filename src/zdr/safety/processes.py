"""`ProcessClassifier`: run a classifier in child processes, off the gateway's interpreter lock.

A classifier is CPU-bound Python; in a thread of the gateway's process it takes the interpreter
lock from the event loop for milliseconds at a time, which would delay first bytes. Wrapped in a
`ProcessClassifier`, the pipeline's worker threads only hand the text to a child process through
a pipe (kernel memory: no file, no log) and wait, without holding the lock.

The children are started with `spawn` (never `fork` from a process with an event loop and
threads), each loading the classifier from the same configuration spec. Errors in a child come
back as their type only.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from zdr.safety.classifier import (
    ClassificationResult,
    Classifier,
    ClassifierUnavailable,
    load_classifier,
)

_child_classifier: Classifier | None = None
_child_error: str | None = None


def _start_child(spec: str, thresholds: dict[str, float]) -> None:
    global _child_classifier, _child_error
    try:
        _child_classifier = load_classifier(spec, thresholds)
    except ClassifierUnavailable as error:
        _child_error = error.message


def _identity() -> tuple[str, str] | str:
    if _child_classifier is None:
        return _child_error or "classifier did not start in the child process"
    return _child_classifier.name, _child_classifier.version


def _classify(input_text: str, output_text: str) -> ClassificationResult:
    if _child_classifier is None:
        raise ClassifierUnavailable(_child_error or "no classifier in the child process")
    return _child_classifier.classify(input_text, output_text)


def _classify_many(pairs: list[tuple[str, str]]) -> list[ClassificationResult]:
    return [_classify(input_text, output_text) for input_text, output_text in pairs]


class ProcessClassifier:
    """The classifier `spec` names, run in `processes` spawned child processes."""

    def __init__(
        self,
        spec: str,
        thresholds: Mapping[str, float] | None = None,
        *,
        processes: int = 1,
        timeout: float = 30.0,
        start_timeout: float = 120.0,
    ) -> None:
        self._timeout = timeout
        self._pool = ProcessPoolExecutor(
            max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child, initargs=(spec, dict(thresholds or {})))
        try:
            identity = self._pool.submit(_identity).result(timeout=start_timeout)
        except (BrokenProcessPool, TimeoutError) as error:
            self.close()
            raise ClassifierUnavailable(
                f"classifier {spec!r} failed to start in a child process "
                f"({type(error).__name__})") from None
        if isinstance(identity, str):
            self.close()
            raise ClassifierUnavailable(identity)
        self.name, self.version = identity

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        return self._pool.submit(_classify, input_text, output_text).result(self._timeout)

    def classify_many(self, pairs: list[tuple[str, str]]) -> list[ClassificationResult]:
        """Several exchanges in one round trip to a child (the pipeline batches what is queued:
        one hand-off instead of one per exchange, which a busy event loop makes slow)."""
        return self._pool.submit(_classify_many, pairs).result(self._timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
