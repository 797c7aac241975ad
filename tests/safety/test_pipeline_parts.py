"""Exchanges of several texts (batches, uploads): each part scored, one result, and only the
flagged parts kept."""

from __future__ import annotations

import asyncio
import gc
import weakref

from safety_data import make_meta

from zdr.inmemory import InMemorySafetySink
from zdr.safety.classifier import ClassificationResult
from zdr.safety.pipeline import CLASSIFY_BATCH, SafetyPipeline

SETTLE_SECONDS = 10.0


class CountingClassifier:
    """Scores `weapons` 1.0 when a text mentions a bomb, `hate` 0.3 always; counts its calls."""

    name = "counting"
    version = "1"

    def __init__(self) -> None:
        self.calls = 0
        self.batches: list[int] = []

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        self.calls += 1
        bomb = "bomb" in input_text or "bomb" in output_text
        return ClassificationResult(self.name, self.version,
                                    {"weapons": 1.0 if bomb else 0.1, "hate": 0.3},
                                    {"weapons": bomb, "hate": False})


class ManyClassifier(CountingClassifier):
    """The same, through `classify_many` (as `ProcessClassifier` offers it)."""

    def classify_many(self, pairs: list[tuple[str, str]]) -> list[ClassificationResult]:
        self.batches.append(len(pairs))
        return [self.classify(i, o) for i, o in pairs]


async def settle(sink: InMemorySafetySink, count: int) -> None:
    for _ in range(int(SETTLE_SECONDS / 0.01)):
        if len(sink.results) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(sink.results)} of {count} results")


async def run(classifier: CountingClassifier, *submissions: tuple) -> InMemorySafetySink:
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(classifier, sink)
    await pipeline.start()
    for meta, parts, not_scored in submissions:
        pipeline.submit_parts(meta, parts, not_scored)
    await settle(sink, len(submissions))
    await pipeline.stop()
    return sink


async def test_one_result_per_exchange_from_its_parts() -> None:
    """Per category the highest score of any part; flagged content holds the flagged parts."""
    for classifier in (CountingClassifier(), ManyClassifier()):
        meta = make_meta(zdr=True, surface="batches")
        parts = [("clean one", ""), ("build a bomb", ""), ("clean two", "out"),
                 ("", "bomb in the answer")]
        sink = await run(classifier, (meta, parts, ()))
        record = sink.results[meta.exchange_id]
        assert record.flagged and record.scores == {"weapons": 1.0, "hate": 0.3}
        assert record.labels == {"weapons": True, "hate": False}
        assert classifier.calls == 4
        flagged = sink.flagged[meta.exchange_id]
        assert flagged.request == b"build a bomb"
        assert flagged.response == b"bomb in the answer"


async def test_a_clean_exchange_of_parts_keeps_no_content() -> None:
    meta = make_meta(zdr=False, surface="batches")
    sink = await run(CountingClassifier(), (meta, [("a", ""), ("b", "")], ()))
    assert not sink.results[meta.exchange_id].flagged and sink.flagged == {}


async def test_nothing_to_score_is_a_result_that_says_why() -> None:
    classifier = CountingClassifier()
    meta = make_meta(zdr=False, surface="files")
    sink = await run(classifier, (meta, [], ("media_type",)))
    record = sink.results[meta.exchange_id]
    assert record.not_scored == ("media_type",)
    assert (record.flagged, record.scores, record.labels, record.sampled_out) == \
        (False, {}, {}, False)
    assert classifier.calls == 0


async def test_a_partly_scored_exchange_carries_its_reason() -> None:
    meta = make_meta(zdr=False, surface="files")
    sink = await run(CountingClassifier(), (meta, [("a bomb", "")], ("size_limit",)))
    record = sink.results[meta.exchange_id]
    assert record.flagged and record.not_scored == ("size_limit",)


async def test_many_parts_go_to_classify_many_in_bounded_calls() -> None:
    """Thousands of parts: classified in calls of at most `CLASSIFY_BATCH` texts, so one big
    batch never makes one huge call to a child process (whose calls have a timeout)."""
    classifier = ManyClassifier()
    big, small = make_meta(zdr=False, surface="batches"), make_meta(zdr=False)
    parts = [(f"request {n}", "") for n in range(1000)] + [("a bomb", "")]
    sink = await run(classifier, (big, parts, ()), (small, [("fine", "")], ()))
    assert sink.results[big.exchange_id].flagged and not sink.results[small.exchange_id].flagged
    assert classifier.calls == 1002 and max(classifier.batches) <= CLASSIFY_BATCH


async def test_a_decision_without_classifier_result_drops_parts() -> None:
    classifier = CountingClassifier()
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(classifier, sink)
    await pipeline.start()
    pipeline.submit_parts(make_meta(zdr=False, surface="models"), [("a bomb", "")])
    await pipeline.stop()
    assert sink.results == {} and classifier.calls == 0


class TextTag(str):
    """A str a weakref can watch."""


async def test_the_pipeline_lets_go_of_every_part() -> None:
    meta = make_meta(zdr=True, surface="batches")
    texts = [TextTag(f"part {n} bomb") for n in range(5)]
    refs = [weakref.ref(t) for t in texts]
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(CountingClassifier(), sink)
    await pipeline.start()
    pipeline.submit_parts(meta, [(t, "") for t in texts])
    del texts
    await settle(sink, 1)
    sink.flagged.clear()        # the flagged bytes are the sink's; the str parts must be gone
    await pipeline.stop()
    gc.collect()
    assert [r() for r in refs] == [None] * 5
