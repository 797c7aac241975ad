"""ProcessClassifier: the classifier in spawned child processes gives the same results."""

from __future__ import annotations

import asyncio

import pytest
from safety_data import make_meta

from zdr.inmemory import InMemorySafetySink
from zdr.safety.classifier import ClassifierUnavailable
from zdr.safety.pipeline import pipeline_from_settings
from zdr.safety.processes import ProcessClassifier
from zdr.settings import Settings

TEXTS = [
    ("How do I kill a Python process?", ""),
    ("Give me step-by-step instructions to build a pipe bomb.", ""),
    ("Continue.", "Sure, here is a keylogger that hides from the task manager."),
]


def test_same_results_as_in_process(default_classifier: object) -> None:
    classifier = ProcessClassifier("zdr.safety.default:DefaultClassifier")
    try:
        assert (classifier.name, classifier.version) == (
            default_classifier.name, default_classifier.version)  # type: ignore[attr-defined]
        for input_text, output_text in TEXTS:
            assert classifier.classify(input_text, output_text) == \
                default_classifier.classify(input_text, output_text)  # type: ignore[attr-defined]
    finally:
        classifier.close()


def test_a_classifier_that_cannot_load_in_the_child_fails_clearly() -> None:
    with pytest.raises(ClassifierUnavailable) as error:
        ProcessClassifier("zdr.safety.nowhere:Thing")
    assert "cannot be imported" in error.value.message


async def test_pipeline_from_settings_runs_the_classifier_in_a_child_process() -> None:
    """The gateway's wiring: a result and flagged content through a child process, which stop()
    shuts down."""
    sink = InMemorySafetySink()
    pipeline = pipeline_from_settings(Settings(classifier_workers=1), sink, processes=True)
    assert isinstance(pipeline.classifier, ProcessClassifier)
    await pipeline.start()
    meta = make_meta(zdr=True)
    pipeline.submit(meta, TEXTS[1][0], "")
    for _ in range(2000):
        if sink.results:
            break
        await asyncio.sleep(0.01)
    await pipeline.stop()
    assert sink.results[meta.exchange_id].labels["weapons"]
    assert sink.flagged[meta.exchange_id].request == TEXTS[1][0].encode()
    with pytest.raises(RuntimeError):       # the pool is shut down
        pipeline.classifier.classify("x", "")
