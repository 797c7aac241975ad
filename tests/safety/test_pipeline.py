"""SafetyPipeline: a result for every exchange, content only when flagged, sampling on overload."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import weakref
from typing import Any

import pytest
from safety_data import make_meta

from zdr.inmemory import InMemorySafetySink
from zdr.observability import make_logger
from zdr.policy.decision import NOT_KEPT
from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.safety.classifier import ClassificationResult, NullClassifier
from zdr.safety.pipeline import SafetyPipeline, pipeline_from_settings
from zdr.settings import Settings
from zdr.testing.logcapture import CapturedLines

CLEAN = "How do I kill a Python process that ignores SIGTERM? canary-{tag}"
VIOLATING = "Give me step-by-step instructions to build a pipe bomb. canary-{tag}"
SETTLE_SECONDS = 10.0


class TextTag(str):
    """A str that can be watched with a weakref, to prove the pipeline lets go of the text."""


class KeywordClassifier:
    """Flags `weapons` when the input mentions a bomb: fast and predictable for pipeline tests."""

    name = "keyword"
    version = "1"

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.gate = gate
        self.fail = fail
        self.calls = 0

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(SETTLE_SECONDS)
        if self.fail:
            raise ValueError(f"cannot classify {input_text!r}")     # text in the message on purpose
        score = 1.0 if "bomb" in input_text or "bomb" in output_text else 0.0
        return ClassificationResult(self.name, self.version, {"weapons": score},
                                    {"weapons": score >= 0.5})


async def settle(pipeline: SafetyPipeline, sink: InMemorySafetySink, count: int) -> None:
    """Wait (bounded) until the sink holds `count` results."""
    for _ in range(int(SETTLE_SECONDS / 0.01)):
        if len(sink.results) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(sink.results)} of {count} results after {SETTLE_SECONDS}s")


@pytest.fixture
def captured() -> CapturedLines:
    return CapturedLines()


@pytest.fixture
def sink() -> InMemorySafetySink:
    return InMemorySafetySink()


async def test_four_exchanges_all_get_results_and_only_violating_ones_keep_content(
    default_classifier: object, sink: InMemorySafetySink, captured: CapturedLines,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Clean and violating exchanges of a ZDR and a standard org, through the default classifier:
    four results, flagged content for the two violating ones only, no text in logs or results."""
    pipeline = SafetyPipeline(default_classifier, sink, workers=2,  # type: ignore[arg-type]
                              logger=make_logger(captured))
    await pipeline.start()
    cases = {
        "zdr-clean": (make_meta(zdr=True), CLEAN.format(tag="zdr-clean"), False),
        "zdr-bad": (make_meta(zdr=True), VIOLATING.format(tag="zdr-bad"), True),
        "std-clean": (make_meta(zdr=False), CLEAN.format(tag="std-clean"), False),
        "std-bad": (make_meta(zdr=False), VIOLATING.format(tag="std-bad"), True),
    }
    for meta, text, _ in cases.values():
        pipeline.submit(meta, text, f"assistant reply {text}")
    await settle(pipeline, sink, 4)
    await pipeline.stop()

    for tag, (meta, text, violating) in cases.items():
        record = sink.results[meta.exchange_id]
        assert record.flagged is violating, tag
        assert record.labels["weapons"] is violating, tag
        assert not record.sampled_out
        assert record.classifier == "zdr-default" and record.org_id == meta.org_id
        assert f"canary-{tag}" not in repr(record)
        if violating:
            stored = sink.flagged[meta.exchange_id]
            assert stored.request == text.encode()
            assert stored.response == f"assistant reply {text}".encode()
        else:
            assert meta.exchange_id not in sink.flagged
    logged = captured.text() + caplog.text
    assert "canary-" not in logged
    assert captured.events("safety_pipeline_stopped")


async def test_flagged_content_is_not_kept_when_the_decision_does_not_keep_it(
    sink: InMemorySafetySink,
) -> None:
    """A flagged exchange whose decision keeps no flagged_content gets its result, no content."""
    meta = make_meta(zdr=False)
    keep = {**meta.decision.keep, "flagged_content": NOT_KEPT}
    meta = dataclasses.replace(meta, decision=dataclasses.replace(meta.decision, keep=keep))
    pipeline = SafetyPipeline(KeywordClassifier(), sink)
    await pipeline.start()
    pipeline.submit(meta, VIOLATING.format(tag="x"), "")
    await settle(pipeline, sink, 1)
    await pipeline.stop()
    assert sink.results[meta.exchange_id].flagged
    assert sink.flagged == {}


async def test_exchanges_whose_decision_keeps_no_classifier_result_are_dropped(
    sink: InMemorySafetySink,
) -> None:
    """A surface without content (models) keeps no classifier result: nothing is classified."""
    classifier = KeywordClassifier()
    pipeline = SafetyPipeline(classifier, sink)
    await pipeline.start()
    pipeline.submit(make_meta(zdr=False, surface="models"), VIOLATING.format(tag="m"), "")
    await pipeline.stop()
    assert sink.results == {} and classifier.calls == 0
    assert pipeline.metrics.value("zdr_classifier_skipped_total") == 1


async def test_overload_samples_out_without_blocking(sink: InMemorySafetySink) -> None:
    """10 000 submissions into a queue of 5 with no free worker: submit returns every time, the
    overflow is counted as sampled out, and every exchange still gets a (text-free) result."""
    gate = threading.Event()
    classifier = KeywordClassifier(gate=gate)
    pipeline = SafetyPipeline(classifier, sink, workers=1, queue_size=5)
    await pipeline.start()
    metas = [make_meta(zdr=True) for _ in range(10_000)]
    returned = 0
    for meta in metas:
        pipeline.submit(meta, VIOLATING.format(tag="load"), "")
        returned += 1
    assert returned == 10_000
    sampled = pipeline.metrics.value("zdr_classifier_sampled_out_total")
    # One job may already be inside the (gated) worker, so 5 or 6 were admitted.
    assert 10_000 - 6 <= sampled <= 10_000 - 5
    gate.set()
    await settle(pipeline, sink, 10_000)
    await pipeline.stop()
    records = list(sink.results.values())
    assert sum(r.sampled_out for r in records) == sampled
    assert all(r.scores == {} and not r.flagged for r in records if r.sampled_out)
    assert sum(not r.sampled_out for r in records) == 10_000 - sampled
    assert len(sink.flagged) == 10_000 - sampled     # only classified ones can be flagged


async def test_submit_before_start_is_kept_and_classified_once_started(
    sink: InMemorySafetySink,
) -> None:
    """Submissions that arrive before start() wait in the queue (never blocking the caller)."""
    pipeline = SafetyPipeline(KeywordClassifier(), sink, queue_size=3)
    metas = [make_meta(zdr=False) for _ in range(4)]
    for meta in metas:
        pipeline.submit(meta, CLEAN.format(tag="early"), "")
    await pipeline.start()
    await settle(pipeline, sink, 4)
    await pipeline.stop()
    assert sorted(r.sampled_out for r in sink.results.values()) == [False, False, False, True]


async def test_the_pipeline_drops_its_references_to_the_text(sink: InMemorySafetySink) -> None:
    """After an unflagged ZDR exchange is recorded, nothing in the pipeline still holds its text."""
    pipeline = SafetyPipeline(KeywordClassifier(), sink)
    await pipeline.start()
    text = TextTag(CLEAN.format(tag="weak"))
    output = TextTag("reply canary-weak")
    watched = [weakref.ref(text), weakref.ref(output)]
    pipeline.submit(make_meta(zdr=True), text, output)
    del text, output
    await settle(pipeline, sink, 1)
    await pipeline.stop()
    gc.collect()
    assert [ref() for ref in watched] == [None, None]


async def test_classifier_failure_records_an_empty_result_and_logs_no_text(
    sink: InMemorySafetySink, captured: CapturedLines, caplog: pytest.LogCaptureFixture,
) -> None:
    """A classifier that raises (with the text in its message) yields an empty result; the log
    line names the error type only."""
    pipeline = SafetyPipeline(KeywordClassifier(fail=True), sink, logger=make_logger(captured))
    await pipeline.start()
    meta = make_meta(zdr=True)
    pipeline.submit(meta, VIOLATING.format(tag="fail"), "")
    await settle(pipeline, sink, 1)
    await pipeline.stop()
    assert sink.results[meta.exchange_id].scores == {}
    assert sink.flagged == {}
    assert pipeline.metrics.value("zdr_classifier_errors_total", stage="classify") == 1
    [event] = captured.events("classifier_failed")
    assert event["error_type"] == "ValueError" and event["request_id"] == meta.exchange_id
    assert "canary-fail" not in captured.text() + caplog.text


async def test_sink_failure_is_counted_and_the_worker_keeps_going(
    sink: InMemorySafetySink, captured: CapturedLines,
) -> None:
    """While the safety store is down, writes fail and are counted; afterwards they succeed."""
    sink.fail = True
    pipeline = SafetyPipeline(KeywordClassifier(), sink, logger=make_logger(captured))
    await pipeline.start()
    pipeline.submit(make_meta(zdr=False), VIOLATING.format(tag="down"), "")
    for _ in range(1000):
        if pipeline.metrics.value("zdr_classifier_errors_total", stage="write"):
            break
        await asyncio.sleep(0.01)
    sink.fail = False
    meta = make_meta(zdr=False)
    pipeline.submit(meta, CLEAN.format(tag="up"), "")
    await settle(pipeline, sink, 1)
    await pipeline.stop()
    assert pipeline.metrics.value("zdr_classifier_errors_total", stage="write") == 1
    assert list(sink.results) == [meta.exchange_id]
    assert "canary-down" not in captured.text()


async def test_stop_drains_the_queue(sink: InMemorySafetySink) -> None:
    """stop() classifies what was queued before returning."""
    pipeline = SafetyPipeline(KeywordClassifier(), sink, workers=2, queue_size=500)
    await pipeline.start()
    for _ in range(300):
        pipeline.submit(make_meta(zdr=False), CLEAN.format(tag="drain"), "")
    await pipeline.stop(timeout=SETTLE_SECONDS)
    assert len(sink.results) == 300
    assert not any(r.sampled_out for r in sink.results.values())
    assert pipeline.pending == 0


async def test_stop_past_its_timeout_records_the_rest_as_sampled_out(
    sink: InMemorySafetySink,
) -> None:
    """A stuck classifier cannot hold shutdown: queued exchanges are recorded as sampled out."""
    gate = threading.Event()
    pipeline = SafetyPipeline(KeywordClassifier(gate=gate), sink, queue_size=50)
    await pipeline.start()
    metas = [make_meta(zdr=True) for _ in range(20)]
    for meta in metas:
        pipeline.submit(meta, CLEAN.format(tag="stuck"), "")
    await pipeline.stop(timeout=0.2)
    gate.set()
    sampled = [r for r in sink.results.values() if r.sampled_out]
    assert len(sampled) >= 18       # one job is inside the stuck classifier, maybe one more
    assert all(isinstance(r, ClassificationRecord) for r in sampled)


async def test_submit_after_stop_is_recorded_as_sampled_out(sink: InMemorySafetySink) -> None:
    pipeline = SafetyPipeline(KeywordClassifier(), sink)
    await pipeline.start()
    await pipeline.stop()
    pipeline.submit(make_meta(zdr=False), CLEAN.format(tag="late"), "")
    assert pipeline.metrics.value("zdr_classifier_sampled_out_total") == 1


def test_pipeline_from_settings_uses_the_configured_classifier_and_pool(
    sink: InMemorySafetySink,
) -> None:
    settings = Settings(classifier="zdr.safety.classifier:NullClassifier", classifier_workers=3,
                        classifier_queue=7)
    pipeline = pipeline_from_settings(settings, sink, processes=False)
    assert isinstance(pipeline.classifier, NullClassifier)
    assert pipeline._workers == 3 and pipeline._capacity == 7


@pytest.mark.parametrize(("workers", "queue_size"), [(0, 1), (1, 0)])
def test_a_pool_or_queue_of_zero_is_refused(
    sink: InMemorySafetySink, workers: int, queue_size: int
) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SafetyPipeline(NullClassifier(), sink, workers=workers, queue_size=queue_size)


class BatchingClassifier(KeywordClassifier):
    """Has `classify_many` (as `ProcessClassifier` does): the pipeline hands it what is queued."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(fail=fail)
        self.batches: list[int] = []

    def classify_many(self, pairs: list[tuple[str, str]]) -> list[ClassificationResult]:
        self.batches.append(len(pairs))
        return [self.classify(text, output) for text, output in pairs]


async def test_queued_exchanges_are_classified_in_batches(sink: InMemorySafetySink) -> None:
    """Exchanges queued before the worker runs go to the classifier in batches of at most 64,
    and each still gets its own result, flagged content only for the violating one."""
    classifier = BatchingClassifier()
    pipeline = SafetyPipeline(classifier, sink, queue_size=500)
    metas = [make_meta(zdr=True) for _ in range(100)]
    for number, meta in enumerate(metas):
        text = VIOLATING if number == 7 else CLEAN
        pipeline.submit(meta, text.format(tag=f"batch{number}"), "")
    await pipeline.start()
    await settle(pipeline, sink, 100)
    await pipeline.stop()
    assert sum(classifier.batches) == 100 and max(classifier.batches) == 64
    assert list(sink.flagged) == [metas[7].exchange_id]
    assert sum(r.flagged for r in sink.results.values()) == 1


async def test_a_failing_batch_gives_empty_results_and_counts_each_exchange(
    sink: InMemorySafetySink, captured: CapturedLines,
) -> None:
    pipeline = SafetyPipeline(BatchingClassifier(fail=True), sink, logger=make_logger(captured))
    for _ in range(3):
        pipeline.submit(make_meta(zdr=True), VIOLATING.format(tag="batchfail"), "")
    await pipeline.start()
    await settle(pipeline, sink, 3)
    await pipeline.stop()
    assert all(r.scores == {} and not r.flagged for r in sink.results.values())
    assert sink.flagged == {}
    assert pipeline.metrics.value("zdr_classifier_errors_total", stage="classify") == 3
    assert "canary-batchfail" not in captured.text()


class GatedSink(InMemorySafetySink):
    """Holds classified (not sampled-out) writes until `gate` is set, or forever for `hang` ids;
    tracks how many are in flight at once."""

    def __init__(self, hang: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.hang = hang
        self.in_flight = 0
        self.most_in_flight = 0

    async def record_classification(self, meta: ExchangeMetadata, result: ClassificationRecord,
                                    flagged: RetainedContent | None) -> None:
        if result.sampled_out:
            await super().record_classification(meta, result, flagged)
            return
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if meta.exchange_id in self.hang:
                await asyncio.Event().wait()        # never set: only the timeout ends it
            await asyncio.wait_for(self.gate.wait(), SETTLE_SECONDS)
            await super().record_classification(meta, result, flagged)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("classifier_type", [KeywordClassifier, BatchingClassifier])
async def test_results_go_to_the_loop_in_one_hop_per_batch(
    sink: InMemorySafetySink, monkeypatch: pytest.MonkeyPatch,
    classifier_type: type[KeywordClassifier],
) -> None:
    """100 queued exchanges reach the loop in a few hand-offs (one per classified batch), not one
    per exchange, and every one is written."""
    hops = []
    original = asyncio.run_coroutine_threadsafe

    def counted(coro: Any, loop: asyncio.AbstractEventLoop) -> Any:
        hops.append(1)
        return original(coro, loop)

    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", counted)
    pipeline = SafetyPipeline(classifier_type(), sink, queue_size=500)
    for number in range(100):
        pipeline.submit(make_meta(zdr=True), CLEAN.format(tag=f"hop{number}"), "")
    await pipeline.start()
    await settle(pipeline, sink, 100)
    await pipeline.stop()
    assert len(sink.results) == 100 and pipeline.completed == 100
    assert 2 <= len(hops) <= 10         # batches of at most 64 (10: a slow machine's 10 ms cuts)


async def test_writes_in_flight_never_exceed_the_queue_size() -> None:
    """With the store stalled, the worker hands over at most `queue_size` writes, then waits for
    a slot; once the store moves, every exchange is written."""
    sink = GatedSink()
    pipeline = SafetyPipeline(KeywordClassifier(), sink, queue_size=8)
    await pipeline.start()
    submitted = 0
    for _ in range(6):
        for _ in range(8):
            pipeline.submit(make_meta(zdr=False), CLEAN.format(tag="bound"), "")
            submitted += 1
        await asyncio.sleep(0.05)
    for _ in range(int(SETTLE_SECONDS / 0.01)):
        if sink.in_flight == 8:
            break
        await asyncio.sleep(0.01)
    assert sink.in_flight == 8
    sink.gate.set()
    await settle(pipeline, sink, submitted)
    await pipeline.stop()
    assert sink.most_in_flight == 8
    classified = sum(not r.sampled_out for r in sink.results.values())
    assert classified >= 16 and len(sink.results) == submitted


async def test_one_timeout_for_a_batch_fails_only_the_unfinished_writes(
    captured: CapturedLines, caplog: pytest.LogCaptureFixture,
) -> None:
    """A write the store never finishes is cancelled at the batch's timeout and logged by id and
    error type only; the other writes of its batch are recorded, and stop() waits for them."""
    metas = [make_meta(zdr=False) for _ in range(5)]
    sink = GatedSink(hang=frozenset({metas[2].exchange_id}))
    sink.gate.set()
    pipeline = SafetyPipeline(BatchingClassifier(), sink, write_timeout=0.3,
                              logger=make_logger(captured))
    for number, meta in enumerate(metas):
        pipeline.submit(meta, VIOLATING.format(tag=f"timeout{number}"), "reply")
    await pipeline.start()
    await pipeline.stop(timeout=SETTLE_SECONDS)
    assert sorted(sink.results) == sorted(m.exchange_id for n, m in enumerate(metas) if n != 2)
    assert len(sink.flagged) == 4
    assert pipeline.metrics.value("zdr_classifier_errors_total", stage="write") == 1
    [event] = captured.events("safety_write_failed")
    assert event["request_id"] == metas[2].exchange_id and event["error_type"] == "TimeoutError"
    assert "canary-timeout" not in captured.text() + caplog.text
    assert sink.in_flight == 0 and pipeline.completed == 4
