"""`SafetyPipeline`: classification off the response path, in a bounded pool, degrading by sampling.

The classifier in child processes (`ProcessClassifier`, the gateway's choice) — no classifier
thread in the gateway's process:

    gateway (event loop)
    submit / submit_parts
        │ LoopChildren (zdr.safety.loop_children)
        ├─ room (Settings.classifier_queue exchanges): queued; a dispatch within 10 ms
        │    sends each idle child (Settings.classifier_workers) up to CLASSIFY_BATCH exchanges
        │    through its pipe, and reads the answer when the pipe is readable
        └─ full: sampled out (counted)
        ▼ flagged + decision keeps flagged_content? → RetainedContent (bytes); drop the text
    ResultHandoff.write_on_loop (zdr.safety.handoff): the batch's writes, on the loop, together

An in-process classifier (`processes=False`, tests, the `zdr` tools):

    gateway (event loop)                  worker threads (Settings.classifier_workers)
    submit / submit_parts                        │
        │ JobQueue (zdr.safety.job_queue)        │ ClassifierWorkers (zdr.safety.executor)
        ├─ room: one queue item per ──────────►  │ classify / classify_many
        │  loop iteration                        │ flagged + decision keeps flagged_content?
        └─ full: sampled out (counted) ─┐        │   → RetainedContent (bytes); drop the text
                                        ▼        ▼
                      ResultHandoff (zdr.safety.handoff): a write slot per result, one hop
                      to the loop per batch, the batch's writes together under one timeout;
                      text-free results (sampled out, nothing to score) through a backlog
                                        ▼
    SafetySink.record_classification(meta, ClassificationRecord, flagged | None)   (on the loop)

This class is the facade the gateway sees (`zdr.ports.SafetyQueue`): it wires the parts and
keeps the port's promises either way. Every exchange whose decision keeps a `classifier_result` gets
one: classified, or — only when the queue is full — `sampled_out=True` with no scores, counted
in `zdr_classifier_sampled_out_total`; exchanges whose decision keeps none (refused requests,
surfaces without content) are dropped at once and counted in `zdr_classifier_skipped_total`.
`submit` and `submit_parts` never block and never raise.

`submit_parts` takes an exchange of several texts (a batch's requests, its results, the pieces of
a file): one job, whose parts are classified one by one (or through `classify_many` in calls of
at most `CLASSIFY_BATCH` texts) and combined into one result (`zdr.safety.parts`); with no parts
it writes a text-free result that says why (`not_scored`).

Log lines carry the exchange id (`request_id`) and error type names only. The text lives only in
the queued job and in the worker's locals; it is never logged, never put in an exception message
and never written anywhere except, when flagged, into the sink's flagged-content store (which
encrypts it). `stop` classifies what is queued within its timeout, records the rest as sampled
out, and waits for the writes, so the sink can be closed right after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from zdr.ports import ExchangeMetadata, SafetySink
from zdr.safety.classifier import Classifier
from zdr.safety.executor import ClassifierWorkers, classifier_for
from zdr.safety.handoff import ResultHandoff
from zdr.safety.job_queue import JobQueue
from zdr.safety.jobs import CLASSIFY_BATCH, Job, not_scored_record, sampled_out_record
from zdr.safety.loop_children import LoopChildren
from zdr.safety.metrics import SafetyMetrics
from zdr.safety.parts import Pair
from zdr.safety.processes import ProcessClassifier
from zdr.settings import Settings

__all__ = ["CLASSIFY_BATCH", "SafetyMetrics", "SafetyPipeline", "pipeline_from_settings"]


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
        self.metrics = SafetyMetrics(registry)
        self._log = logger if logger is not None else structlog.get_logger("zdr.safety")
        self._handoff = ResultHandoff(sink, self.metrics, self._log, slots=queue_size,
                                      write_timeout=write_timeout)
        self._queue = JobQueue(queue_size, self._sample_out)
        self._executor = ClassifierWorkers(classifier, self._queue, self._handoff.write_all,
                                           self.metrics, self._log, count=workers)
        # the classifier in child processes: the loop drives them, no worker threads
        self._children: LoopChildren | None = None
        if isinstance(classifier, ProcessClassifier):
            self._children = LoopChildren(classifier, self._handoff, self.metrics, self._log,
                                          capacity=queue_size, slots=queue_size,
                                          sample_out=self._sample_out)
            self._put = self._children.put
        else:
            self._put = self._queue.put
        self._loop: asyncio.AbstractEventLoop | None = None
        # read when scraped: no gauge update per exchange
        self.metrics.queue_depth.set_function(self._depth)

    # ---- the SafetyQueue port ----------------------------------------------------------------

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None:
        """Queue an exchange for classification; never blocks, never raises, never logs text."""
        if not meta.decision.keep["classifier_result"].kept:
            self.metrics.skipped.inc()
            return
        self._put(Job(meta, input_text, output_text))

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[Pair],
                     not_scored: tuple[str, ...] = ()) -> None:
        """An exchange of several texts (`zdr.ports.SafetyQueue.submit_parts`); never blocks,
        never raises, never logs text."""
        if not meta.decision.keep["classifier_result"].kept:
            self.metrics.skipped.inc()
            return
        for reason in not_scored:
            self.metrics.not_scored.labels(reason=reason).inc()
        if not parts:       # nothing to score: a text-free result
            self._handoff.write_text_free(
                meta, not_scored_record(meta, self.classifier, not_scored))
            return
        self._put(Job(meta, "", "", tuple(parts), not_scored))

    def _sample_out(self, meta: ExchangeMetadata) -> None:
        """No room (or stopped): the exchange's result says it was not classified."""
        self.metrics.sampled_out.inc()
        self._handoff.write_text_free(meta, sampled_out_record(meta, self.classifier))

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._queue.bind(self._loop)
        self._handoff.start(self._loop)
        if self._children is not None:
            await self._children.start()
        else:
            self._executor.start()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, classify what is queued within `timeout`, then record the rest as
        sampled out (their text dropped unread). Closes the classifier if it has `close()`."""
        deadline = time.monotonic() + timeout
        if self._children is not None:
            await self._children.stop(deadline)
        self._queue.close()             # what this loop iteration collected goes first
        threads = list(self._executor.threads)
        self._queue.stop_workers(len(threads))
        for thread in threads:
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
        for meta in self._queue.drain():
            self._sample_out(meta)
        # still busy past the deadline: let them exit when done (`drain` took their stops)
        self._queue.stop_workers(sum(thread.is_alive() for thread in threads))
        await self._handoff.wait_for_writes(deadline)
        await self._handoff.close(deadline)
        close = getattr(self.classifier, "close", None)
        if callable(close):             # e.g. a ProcessClassifier's child processes
            await asyncio.to_thread(close)
        self._log.info("safety_pipeline_stopped",
                       workers=sum(t.is_alive() for t in threads), in_flight=self.pending)
        self._executor.threads.clear()

    @property
    def completed(self) -> int:
        """Results handed to the sink so far (classified or sampled out)."""
        return self._handoff.completed

    @property
    def pending(self) -> int:
        return self._depth() + self._handoff.backlog

    def _depth(self) -> int:
        if self._children is not None:
            return self._children.depth()
        return self._queue.depth()


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
    processes, driven by the event loop, so it never holds the gateway's interpreter lock and no
    thread wakes per batch; without, in threads."""
    return SafetyPipeline(classifier_for(settings, processes=processes), sink,
                          workers=settings.classifier_workers,
                          queue_size=settings.classifier_queue, registry=registry, logger=logger)
