"""`ProcessClassifier`: run a classifier in child processes, off the gateway's interpreter lock.

A classifier is CPU-bound Python; in a thread of the gateway's process it takes the interpreter
lock from the event loop for milliseconds at a time, which would delay first bytes. Wrapped in a
`ProcessClassifier`, the pipeline's worker threads only hand the text to a child process through
a pipe (kernel memory: no file, no log) and wait, without holding the lock.

The children are started with `spawn` (never `fork` from a process with an event loop and
threads), each loading the classifier from the same configuration spec. Errors in a child come
back as their type only.

The default classifier scores only the last `max_chars` characters of the input and the first
`max_chars` of the output; the child reports that limit when it starts, and the parent trims both
texts to it before they are pickled, so a 200 KB conversation costs 8,000 characters of hand-off
(the same scores: the classifier would cut them there itself). The pipeline keeps the full texts
for what it retains when an exchange is flagged.
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


def _identity() -> tuple[str, str, int | None] | str:
    """Name, version and the input/output character limit (None: the texts are sent whole)."""
    if _child_classifier is None:
        return _child_error or "classifier did not start in the child process"
    from zdr.safety.default import DefaultClassifier

    limit = None
    if isinstance(_child_classifier, DefaultClassifier) and _child_classifier.max_chars > 0:
        limit = _child_classifier.max_chars
    return _child_classifier.name, _child_classifier.version, limit


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
        self.name, self.version, self.max_chars = identity

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        input_text, output_text = self._trimmed(input_text, output_text)
        return self._pool.submit(_classify, input_text, output_text).result(self._timeout)

    def classify_many(self, pairs: list[tuple[str, str]]) -> list[ClassificationResult]:
        """Several exchanges in one round trip to a child (the pipeline batches what is queued:
        one hand-off instead of one per exchange, which a busy event loop makes slow)."""
        pairs = [self._trimmed(input_text, output_text) for input_text, output_text in pairs]
        return self._pool.submit(_classify_many, pairs).result(self._timeout)

    def _trimmed(self, input_text: str, output_text: str) -> tuple[str, str]:
        """What the child's classifier would score anyway: the input's end, the output's start."""
        limit = self.max_chars
        if limit is None:
            return input_text, output_text
        return input_text[-limit:], output_text[:limit]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
