"""`ClassifierWorkers`: the threads that classify queued exchanges with an in-process classifier;
`classifier_for` picks where the classifier runs (in child processes, the gateway's choice, which
the event loop drives without threads — zdr.safety.loop_children — or in these threads).

    JobQueue ──get / take_more──► worker thread (one of `count`)
                                      │ classify_many(pairs) in calls of ≤ CLASSIFY_BATCH texts,
                                      │   or classify(input, output) one by one (≤ HANDOFF_SECONDS)
                                      │ flagged + decision keeps flagged_content?
                                      │   → RetainedContent (bytes), else None
                                      │ drop the text references
                                      ▼
                                  deliver(outcomes)   (zdr.safety.handoff: back to the loop)

A worker takes a queue item, classifies what it holds and what else is queued (up to
`CLASSIFY_BATCH` exchanges; one by one for at most `HANDOFF_SECONDS`, so a slow classifier's
results are not held back), and delivers those outcomes together; it does not wait for their
writes. A classifier that raises yields an empty result for each exchange it was given
(`zdr_classifier_errors_total{stage="classify"}`, a log line with the exchange id and the error's
type name only): the worker carries on. The text lives only in the job and the worker's locals.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from zdr.ports import ClassificationRecord, RetainedContent
from zdr.safety.classifier import ClassificationResult, Classifier, load_classifier
from zdr.safety.job_queue import STOP, JobQueue
from zdr.safety.jobs import CLASSIFY_BATCH, Job, Outcome
from zdr.safety.metrics import SafetyMetrics
from zdr.safety.outcomes import Outcomes
from zdr.safety.processes import ProcessClassifier
from zdr.settings import Settings

# A worker classifying one exchange at a time hands its results over at least this often.
HANDOFF_SECONDS = 0.01


def classifier_for(settings: Settings, *, processes: bool) -> Classifier:
    """The classifier `Settings` name (`classifier`, `flag_thresholds`); with `processes`, in
    `classifier_workers` spawned child processes, so it never holds the gateway's interpreter
    lock. Raises `ClassifierUnavailable`."""
    if processes:
        return ProcessClassifier(settings.classifier, settings.flag_thresholds,
                                 processes=settings.classifier_workers)
    return load_classifier(settings.classifier, settings.flag_thresholds)


class ClassifierWorkers:
    """`count` daemon threads classifying what `jobs` holds and delivering the outcomes."""

    def __init__(self, classifier: Classifier, jobs: JobQueue,
                 deliver: Callable[[list[Outcome]], None], metrics: SafetyMetrics, log: Any,
                 *, count: int) -> None:
        self.classifier = classifier
        self.count = count
        self._jobs = jobs
        self._deliver = deliver
        self._metrics = metrics
        self._log = log
        self.threads: list[threading.Thread] = []
        self._outcomes = Outcomes(classifier, metrics, log)

    def start(self) -> None:
        for number in range(self.count):
            thread = threading.Thread(
                target=self._work, name=f"zdr-classifier-{number}", daemon=True)
            thread.start()
            self.threads.append(thread)

    # ---- one worker thread ---------------------------------------------------------------------
    def _work(self) -> None:
        many = getattr(self.classifier, "classify_many", None)
        jobs = self._jobs.worker_jobs()     # taken from the queue, not classified yet
        while True:
            if not jobs:
                item = self._jobs.get()
                if item is STOP:
                    return
                assert isinstance(item, list)
                self._jobs.take(item, jobs)
                del item
            if callable(many):
                outcomes = self._classify_batch(jobs, many)
            else:
                outcomes = self._classify_queued(jobs)
            self._deliver(outcomes)

    def _classify_queued(self, jobs: deque[Job]) -> list[Outcome]:
        """Classify the taken jobs and what else is queued, one by one, until `CLASSIFY_BATCH`
        results or `HANDOFF_SECONDS` (a slow classifier's results are not held back)."""
        outcomes: list[Outcome] = []
        started = time.monotonic()
        while True:
            if not jobs:
                self._jobs.take_more(jobs, 1)
            try:
                job = jobs.popleft()        # `stop` may have reclaimed it meanwhile
            except IndexError:
                break
            self._jobs.started(1)
            outcomes.append((job.meta, *self._classify(job)))
            del job             # the job held the only queued reference to the text
            if len(outcomes) >= CLASSIFY_BATCH or time.monotonic() - started >= HANDOFF_SECONDS:
                break
        return outcomes

    def _classify_batch(self, queued: deque[Job], many: Any) -> list[Outcome]:
        """Classify up to `CLASSIFY_BATCH` of the taken and queued jobs in one call."""
        self._jobs.take_more(queued, CLASSIFY_BATCH)
        jobs: list[Job] = []
        while len(jobs) < CLASSIFY_BATCH:
            try:
                jobs.append(queued.popleft())   # `stop` may have reclaimed them meanwhile
            except IndexError:
                break
        if not jobs:
            return []
        self._jobs.started(len(jobs))
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
            self._outcomes.failed(jobs, error)
            results = [self._outcomes.empty_result()] * len(pairs)
        pairs.clear()
        each = (time.perf_counter() - started) / len(jobs)
        outcomes: list[Outcome] = []
        first = 0
        for job in jobs:
            self._metrics.seconds.observe(each)
            count = len(job.pairs())
            outcomes.append((job.meta, *self._outcome(job, results[first:first + count])))
            first += count
        del job
        jobs.clear()            # the jobs held the only queued references to the text
        return outcomes

    def _classify(self, job: Job) -> tuple[ClassificationRecord, RetainedContent | None]:
        started = time.perf_counter()
        try:
            results = [self.classifier.classify(input_text, output_text)
                       for input_text, output_text in job.pairs()]
        except Exception as error:  # noqa: BLE001 - a classifier failure must not kill the worker
            self._outcomes.failed((job,), error)
            results = [self._outcomes.empty_result()] * len(job.pairs())
        self._metrics.seconds.observe(time.perf_counter() - started)
        return self._outcome(job, results)

    def _outcome(self, job: Job, results: list[ClassificationResult]
                 ) -> tuple[ClassificationRecord, RetainedContent | None]:
        return self._outcomes.outcome(job, results)
