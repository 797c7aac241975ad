"""Precision and recall of a classifier per category, on labelled exchanges.

A labelled exchange is a mapping with `input`, `output` and `categories` (the categories it
violates; empty for a benign one). Used by the tests (floors) and `bench/safety.py` (the quality
table in `src/zdr/safety/README.md`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zdr.safety.classifier import Classifier


@dataclass(frozen=True, slots=True)
class Quality:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        violating = self.true_positives + self.false_negatives
        return self.true_positives / violating if violating else 1.0

    @property
    def support(self) -> int:
        return self.true_positives + self.false_negatives


@dataclass(frozen=True, slots=True)
class Evaluation:
    per_category: dict[str, Quality]
    overall: Quality            # exchange level: flagged vs. violating anything
    benign: int
    benign_flagged: int


def evaluate(
    classifier: Classifier, rows: Iterable[Mapping[str, Any]], categories: Sequence[str]
) -> Evaluation:
    counts = {name: [0, 0, 0] for name in categories}
    overall = [0, 0, 0]
    benign = benign_flagged = 0
    for row in rows:
        result = classifier.classify(row["input"], row.get("output", ""))
        gold = set(row["categories"])
        found = set(result.flagged_categories)
        for name in categories:
            if name in found and name in gold:
                counts[name][0] += 1
            elif name in found:
                counts[name][1] += 1
            elif name in gold:
                counts[name][2] += 1
        if gold:
            overall[0 if result.flagged else 2] += 1
        else:
            benign += 1
            if result.flagged:
                overall[1] += 1
                benign_flagged += 1
    return Evaluation(
        per_category={name: Quality(*c) for name, c in counts.items()},
        overall=Quality(*overall), benign=benign, benign_flagged=benign_flagged)


def markdown_table(evaluation: Evaluation) -> str:
    lines = ["| category | precision | recall | violating texts | false positives |",
             "|---|---|---|---|---|"]
    for name, q in evaluation.per_category.items():
        lines.append(f"| {name} | {q.precision:.2f} | {q.recall:.2f} | {q.support} | "
                     f"{q.false_positives} |")
    o = evaluation.overall
    lines.append(f"| **any category** (exchange flagged) | {o.precision:.2f} | {o.recall:.2f} | "
                 f"{o.support} | {evaluation.benign_flagged} of {evaluation.benign} benign |")
    return "\n".join(lines)
