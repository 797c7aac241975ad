"""Exchanges of several texts — a message batch's requests, the results read back, the pieces of an
uploaded file — scored part by part, and combined into the exchange's one result.

Each (input, output) part is scored on its own, so a violation in the first of 10,000 batch
requests is not diluted by (or cut off behind) the other 9,999. The exchange's result is, per
category, the highest score of any part, labelled when any part's label is; its flagged content
is the flagged parts only, inputs and outputs each joined by `PART_SEPARATOR`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zdr.ports import RetainedContent
from zdr.safety.classifier import ClassificationResult

Pair = tuple[str, str]
PART_SEPARATOR = "\n\n"


def combined(name: str, version: str,
             results: Sequence[ClassificationResult]) -> ClassificationResult:
    """One result for the whole exchange: the highest score and any label, per category."""
    if len(results) == 1:
        return results[0]
    scores: dict[str, float] = {}
    labels: dict[str, bool] = {}
    for result in results:
        for category, score in result.scores.items():
            if score > scores.get(category, -1.0):
                scores[category] = score
        for category, label in result.labels.items():
            labels[category] = labels.get(category, False) or label
    first = results[0] if results else None
    return ClassificationResult(first.classifier if first else name,
                                first.version if first else version, scores, labels)


def flagged_content(parts: Sequence[Pair],
                    results: Sequence[ClassificationResult]) -> RetainedContent:
    """The flagged parts' texts, as the bytes kept under the misuse exception."""
    flagged = [pair for pair, result in zip(parts, results, strict=True) if result.flagged]
    return RetainedContent(
        request=_joined(pair[0] for pair in flagged),
        response=_joined(pair[1] for pair in flagged))


def _joined(texts: Iterable[str]) -> bytes:
    return PART_SEPARATOR.join(t for t in texts if t).encode("utf-8", "surrogatepass")
