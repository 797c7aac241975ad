"""What the safety pipeline's parts hand each other: a `Job` (an exchange and its text, from
`submit` to a worker), an `Outcome` (what is written for it, from a worker to the hand-off), and
the `ClassificationRecord`s written: classified, sampled out, or with nothing to score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.safety.classifier import ClassificationResult, Classifier
from zdr.safety.parts import Pair

# Texts per `classify_many` call, and exchanges per queue item and per worker batch.
CLASSIFY_BATCH = 64


@dataclass(slots=True)
class Job:
    meta: ExchangeMetadata
    input_text: str = field(repr=False)
    output_text: str = field(repr=False)
    # an exchange of several texts (`submit_parts`): scored part by part, then combined
    parts: Sequence[Pair] | None = field(default=None, repr=False)
    not_scored: tuple[str, ...] = ()

    def pairs(self) -> Sequence[Pair]:
        return self.parts if self.parts is not None else ((self.input_text, self.output_text),)


# The outcome of one classified exchange: what is written, and the content kept if flagged.
Outcome = tuple[ExchangeMetadata, ClassificationRecord, RetainedContent | None]


def not_scored_record(meta: ExchangeMetadata, classifier: Classifier,
                      not_scored: tuple[str, ...]) -> ClassificationRecord:
    """The result of an exchange with nothing to score: no scores, and the reasons."""
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier=classifier.name,
        classifier_version=classifier.version, flagged=False, scores={}, labels={},
        not_scored=not_scored)


def sampled_out_record(meta: ExchangeMetadata, classifier: Classifier) -> ClassificationRecord:
    """The result of an exchange the pipeline had no capacity for: no scores, `sampled_out`."""
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier=classifier.name,
        classifier_version=classifier.version, flagged=False, scores={}, labels={},
        sampled_out=True)


def result_record(meta: ExchangeMetadata, result: ClassificationResult,
                  not_scored: tuple[str, ...] = ()) -> ClassificationRecord:
    return ClassificationRecord(
        exchange_id=meta.exchange_id, org_id=meta.org_id, classifier=result.classifier,
        classifier_version=result.version, flagged=result.flagged, scores=dict(result.scores),
        labels=dict(result.labels), not_scored=not_scored)
