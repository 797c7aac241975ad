"""SafetyPipeline.submit collects one loop iteration's exchanges into one queue item: a burst
wakes a worker once; capacity and queue depth still count exchanges."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from safety_data import make_meta
from test_pipeline import CLEAN, SETTLE_SECONDS, BatchingClassifier, KeywordClassifier, settle

from zdr.inmemory import InMemorySafetySink
from zdr.safety.pipeline import SafetyPipeline


class CountingQueue:
    """The pipeline's job queue, counting what is put in it."""

    def __init__(self) -> None:
        self.inner: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.puts: list[Any] = []

    def put(self, item: Any) -> None:
        self.puts.append(len(item) if isinstance(item, list) else item)
        self.inner.put(item)

    def get(self, timeout: float | None = None) -> Any:
        return self.inner.get(timeout=timeout)

    def get_nowait(self) -> Any:
        return self.inner.get_nowait()


async def test_a_burst_in_one_loop_iteration_is_one_queue_item() -> None:
    sink = InMemorySafetySink()
    classifier = BatchingClassifier()
    pipeline = SafetyPipeline(classifier, sink, queue_size=500)
    counting = CountingQueue()
    pipeline._jobs = counting  # type: ignore[assignment]
    await pipeline.start()
    for burst in (50, 1, 130):
        for _ in range(burst):
            pipeline.submit(make_meta(zdr=True), CLEAN.format(tag="burst"), "")
        await asyncio.sleep(0)          # the flush runs
        await settle(pipeline, sink, len(sink.results) + burst)
    assert counting.puts == [50, 1, 64, 64, 2]      # one item per burst, cut at CLASSIFY_BATCH
    assert classifier.batches == [50, 1, 64, 64, 2]
    await pipeline.stop()
    assert len(sink.results) == 181 and not any(r.sampled_out for r in sink.results.values())


async def test_capacity_and_depth_count_exchanges_not_queue_items() -> None:
    """A stuck worker holds one exchange; what it has taken but not started still counts as
    waiting, so a queue of 50 admits 50 more and samples out the rest."""
    sink = InMemorySafetySink()
    gate = threading.Event()
    classifier = KeywordClassifier(gate=gate)
    pipeline = SafetyPipeline(classifier, sink, queue_size=50)
    await pipeline.start()
    for _ in range(10):
        pipeline.submit(make_meta(zdr=True), CLEAN.format(tag="depth"), "")
    assert pipeline.metrics.value("zdr_classifier_queue_depth") == 10
    for _ in range(int(SETTLE_SECONDS / 0.01)):
        if classifier.calls:
            break
        await asyncio.sleep(0.01)
    assert classifier.calls == 1
    assert pipeline.metrics.value("zdr_classifier_queue_depth") == 9
    for _ in range(45):
        pipeline.submit(make_meta(zdr=True), CLEAN.format(tag="depth"), "")
    assert pipeline.metrics.value("zdr_classifier_queue_depth") == 50
    assert pipeline.metrics.value("zdr_classifier_sampled_out_total") == 4
    gate.set()
    await settle(pipeline, sink, 55)
    await pipeline.stop()
    assert pipeline.metrics.value("zdr_classifier_queue_depth") == 0
    assert sum(not r.sampled_out for r in sink.results.values()) == 51


async def test_submit_from_a_thread_without_the_loop_queues_directly() -> None:
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(KeywordClassifier(), sink, queue_size=10)
    await pipeline.start()
    metas = [make_meta(zdr=False) for _ in range(12)]

    def submit_all() -> None:
        for meta in metas:
            pipeline.submit(meta, CLEAN.format(tag="thread"), "")

    await asyncio.to_thread(submit_all)
    await settle(pipeline, sink, 12)
    await pipeline.stop()
    assert {m.exchange_id for m in metas} == set(sink.results)
    # a worker may have started some already, so at most 2 were sampled out
    assert pipeline.metrics.value("zdr_classifier_sampled_out_total") <= 2
