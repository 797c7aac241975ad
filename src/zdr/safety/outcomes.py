"""`Outcomes`: what is written for classified jobs, wherever they were classified (a worker thread
or the event loop driving the child processes): the combined result, the flagged content kept
when the decision keeps it, and for a classifier failure an empty result per exchange, counted
and logged by the exchange id and the error's type name only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zdr.ports import ClassificationRecord, RetainedContent
from zdr.safety.classifier import ClassificationResult, Classifier
from zdr.safety.jobs import Job, result_record
from zdr.safety.metrics import SafetyMetrics
from zdr.safety.parts import combined, flagged_content
from zdr.safety.processes import ChildClassifierError


def error_type(error: BaseException) -> str:
    """What a log line says of a classifier error: its type name (for an error raised in a child
    process, the original type's name that came back)."""
    if isinstance(error, ChildClassifierError):
        return error.raised_type
    return type(error).__name__


class Outcomes:
    """Builds the outcomes of `classifier`'s results, counting them in `metrics`."""

    def __init__(self, classifier: Classifier, metrics: SafetyMetrics, log: Any) -> None:
        self.classifier = classifier
        self._metrics = metrics
        self._log = log
        # the counter's two children, looked up once (a `labels()` call per exchange adds up)
        self._classified = {flagged: metrics.classified.labels(flagged=str(flagged).lower())
                            for flagged in (False, True)}
        self._classify_errors = metrics.errors.labels(stage="classify")

    def empty_result(self) -> ClassificationResult:
        return ClassificationResult(self.classifier.name, self.classifier.version, {}, {})

    def failed(self, jobs: Sequence[Job], error: BaseException) -> None:
        """The classifier failed on `jobs`: counted, and a log line per exchange (its id and the
        error's type name; never the text, never the error's message)."""
        self._classify_errors.inc(len(jobs))
        kind = error_type(error)
        for job in jobs:
            self._log.warning("classifier_failed", request_id=job.meta.exchange_id,
                              error_type=kind)

    def outcome(self, job: Job, results: Sequence[ClassificationResult]
                ) -> tuple[ClassificationRecord, RetainedContent | None]:
        """The record of `job` from the results of its pairs, and its text if flagged and the
        decision keeps flagged content."""
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
