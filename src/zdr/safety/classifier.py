"""The classifier port: text in, per-category scores and labels out — never text out.

A classifier is any object with a `name`, a `version` and `classify(input_text, output_text)`
returning a `ClassificationResult`. Which one runs is configuration: `Settings.classifier` is an
import path (`package.module:Name`) or the name of an entry point in the `zdr.classifiers` group.
The named object is called with `thresholds=Settings.flag_thresholds` (a mapping category → score
at or above which that category is labelled), and must return a classifier. Options for it can
follow a `?`, as in a URL query: `zdr.safety.http:HttpModerationClassifier?url=http://h:8000`
(keyword arguments, as strings; put no secret there — the spec is configuration, not a secret).

Results carry scores and labels only. No text, excerpt or matched word ever goes into a result,
an exception message or a log line from this package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl

from zdr.errors import ZdrError

ENTRY_POINT_GROUP = "zdr.classifiers"


class ClassifierUnavailable(ZdrError):
    """The configured classifier could not be loaded (the message names the path, never text)."""


@dataclass(frozen=True, slots=True)
class ClassificationResult:
    """Per category a score in [0, 1] and a label; `flagged` if any category is labelled."""

    classifier: str
    version: str
    scores: dict[str, float]
    labels: dict[str, bool]

    @property
    def flagged(self) -> bool:
        return any(self.labels.values())

    @property
    def flagged_categories(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, label in self.labels.items() if label))


@runtime_checkable
class Classifier(Protocol):
    name: str
    version: str

    def classify(self, input_text: str, output_text: str) -> ClassificationResult: ...


def label_scores(
    scores: Mapping[str, float],
    defaults: Mapping[str, float],
    overrides: Mapping[str, float] | None = None,
) -> dict[str, bool]:
    """A label per category: score ≥ its threshold (an override if given, else the default)."""
    thresholds = {**defaults, **(overrides or {})}
    return {name: score >= thresholds.get(name, 0.5) for name, score in scores.items()}


def check_thresholds(categories: tuple[str, ...], thresholds: Mapping[str, float]) -> None:
    """Refuse thresholds for categories a classifier does not have, or outside [0, 1]."""
    unknown = sorted(set(thresholds) - set(categories))
    if unknown:
        raise ClassifierUnavailable(
            f"flag_thresholds names unknown categories {unknown}; known: {list(categories)}")
    for name, value in thresholds.items():
        if not 0.0 <= value <= 1.0:
            raise ClassifierUnavailable(f"flag_thresholds[{name!r}] must be within [0, 1]")


class NullClassifier:
    """Flags nothing, scores nothing: for deployments that turn classification off, and tests."""

    name = "null"
    version = "1"

    def __init__(self, thresholds: Mapping[str, float] | None = None) -> None:
        check_thresholds((), thresholds or {})

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        return ClassificationResult(self.name, self.version, {}, {})


def load_classifier(spec: str, thresholds: Mapping[str, float] | None = None) -> Classifier:
    """Build the classifier that `spec` names (import path or entry point name)."""
    target, _, query = spec.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    factory = _resolve(target)
    try:
        classifier = factory(thresholds=dict(thresholds or {}), **options)
    except ClassifierUnavailable:
        raise
    except Exception as error:
        raise ClassifierUnavailable(
            f"classifier {spec!r} failed to start ({type(error).__name__})") from error
    if not isinstance(classifier, Classifier):
        raise ClassifierUnavailable(
            f"classifier {spec!r} has no name, version and classify(input_text, output_text)")
    return classifier


def _resolve(spec: str) -> Callable[..., object]:
    if ":" not in spec:
        found = entry_points(group=ENTRY_POINT_GROUP, name=spec)
        if not found:
            raise ClassifierUnavailable(
                f"classifier {spec!r} is neither 'module:Name' nor an entry point in "
                f"{ENTRY_POINT_GROUP!r}")
        spec = next(iter(found)).value
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ClassifierUnavailable(
            f"classifier module {module_name!r} cannot be imported ({type(error).__name__}: "
            f"{error.name or module_name})") from error
    target: object = module
    for part in attribute.split("."):
        if not part or not hasattr(target, part):
            raise ClassifierUnavailable(
                f"classifier {spec!r}: {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ClassifierUnavailable(f"classifier {spec!r} is not callable")
    return target
