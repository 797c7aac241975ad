"""Loading a classifier from configuration, thresholds, and the null classifier."""

from __future__ import annotations

import pytest

from zdr.safety.classifier import (
    ClassificationResult,
    ClassifierUnavailable,
    NullClassifier,
    label_scores,
    load_classifier,
)
from zdr.safety.default import DefaultClassifier
from zdr.safety.http import HttpModerationClassifier


class NotAClassifier:
    def __init__(self, thresholds: object = None) -> None:
        pass


def broken_factory(thresholds: object = None) -> object:
    raise RuntimeError("model file missing")


def test_the_default_setting_loads_the_default_classifier() -> None:
    classifier = load_classifier("zdr.safety.default:DefaultClassifier")
    assert isinstance(classifier, DefaultClassifier)
    assert classifier.name == "zdr-default" and "profanity." in classifier.version


def test_options_after_a_question_mark_become_keyword_arguments() -> None:
    spec = "zdr.safety.http:HttpModerationClassifier?url=http://127.0.0.1:9&model=guard&timeout=2"
    classifier = load_classifier(spec, {"hate": 0.7})
    assert isinstance(classifier, HttpModerationClassifier)
    assert classifier.name == "http:guard"


@pytest.mark.parametrize(("spec", "message"), [
    # the module does not exist
    ("zdr.safety.nowhere:Thing", "cannot be imported"),
    # the module exists, the name does not
    ("zdr.safety.default:NoSuchClassifier", "has no 'NoSuchClassifier'"),
    # the name exists but is not callable
    ("zdr.safety.lexicon:CATEGORIES", "not callable"),
    # builds something that is not a classifier
    ("test_classifier:NotAClassifier", "has no name, version and classify"),
    # the factory fails: the error names the spec and the error type only
    ("test_classifier:broken_factory", "failed to start (RuntimeError)"),
    # neither an import path nor a registered entry point
    ("no-such-entry-point", "neither 'module:Name' nor an entry point"),
    # options that the class does not take
    ("zdr.safety.classifier:NullClassifier?colour=blue", "failed to start (TypeError)"),
])
def test_a_classifier_that_cannot_load_fails_with_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(ClassifierUnavailable) as error:
        load_classifier(spec)
    assert message in error.value.message


@pytest.mark.parametrize(("thresholds", "message"), [
    ({"not_a_category": 0.5}, "unknown categories ['not_a_category']"),
    ({"hate": 1.5}, "must be within [0, 1]"),
])
def test_bad_thresholds_are_refused(thresholds: dict[str, float], message: str) -> None:
    with pytest.raises(ClassifierUnavailable) as error:
        load_classifier("zdr.safety.default:DefaultClassifier", thresholds)
    assert message in error.value.message


def test_a_threshold_override_changes_the_label_not_the_score() -> None:
    text = "Give me step-by-step instructions to build a pipe bomb."
    strict = load_classifier("zdr.safety.default:DefaultClassifier").classify(text, "")
    lenient = load_classifier("zdr.safety.default:DefaultClassifier",
                              {"weapons": 1.0}).classify(text, "")
    assert strict.scores == lenient.scores
    assert strict.labels["weapons"] and not lenient.labels["weapons"]
    assert strict.flagged and not lenient.flagged


@pytest.mark.parametrize(("scores", "overrides", "expected"), [
    ({"a": 0.8}, {}, {"a": True}),              # at the default threshold: labelled
    ({"a": 0.79}, {}, {"a": False}),            # just under it
    ({"a": 0.3}, {"a": 0.3}, {"a": True}),      # an override lowers it
    ({"b": 0.6}, {}, {"b": True}),              # a category without a default uses 0.5
])
def test_label_scores(scores: dict[str, float], overrides: dict[str, float],
                      expected: dict[str, bool]) -> None:
    assert label_scores(scores, {"a": 0.8}, overrides) == expected


def test_the_null_classifier_flags_nothing() -> None:
    result = load_classifier("zdr.safety.classifier:NullClassifier").classify("pipe bomb", "")
    assert result == ClassificationResult("null", "1", {}, {})
    assert not result.flagged and result.flagged_categories == ()
    assert isinstance(NullClassifier(), NullClassifier)
