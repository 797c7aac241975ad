"""The default classifier's scoring written the straightforward way, to check the fast one against.

Every cue's pattern is searched directly on the text (no literal prefilter, no index), the profanity
model is evaluated term by term and fold by fold from the package's fitted objects with the
vectorizer's own token pattern, the "addressed to someone" test is the case-insensitive pattern on
the raw text, every category is rounded, and labels come from `label_scores`. This is what
`DefaultClassifier` computed before it was optimized; its scores must equal these exactly.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from importlib import resources
from typing import Any

import joblib

from zdr.safety.classifier import ClassificationResult, label_scores
from zdr.safety.default import _TARGETED, DEFAULT_MAX_CHARS
from zdr.safety.lexicon import _APOSTROPHES, _PROTECTIVE, CATEGORIES, CUES


def reference_lexicon_scores(text: str) -> dict[str, float]:
    lowered = text.translate(_APOSTROPHES).lower()
    scores = {}
    for category, cues in CUES.items():
        remaining = 1.0
        for cue in cues:
            if cue.pattern.search(lowered) is not None:
                remaining *= 1.0 - cue.weight
        scores[category] = 1.0 - remaining
    if scores["sexual_minors"] and _PROTECTIVE.search(lowered):
        scores["sexual_minors"] *= 0.5
    return scores


class ReferenceProfanity:
    """`ProfanityModel` as first written: regex tokens, a loop over terms and one over folds."""

    def __init__(self) -> None:
        data = resources.files("profanity_check") / "data"
        with resources.as_file(data / "vectorizer.joblib") as path:
            vectorizer: Any = joblib.load(path)
        with resources.as_file(data / "model.joblib") as path:
            model: Any = joblib.load(path)
        params = vectorizer.get_params()
        self.token = re.compile(params["token_pattern"])
        self.lowercase = bool(params["lowercase"])
        folds = model.calibrated_classifiers_
        self.folds = [(float(fold.estimator.intercept_[0]), float(fold.calibrators[0].a_),
                       float(fold.calibrators[0].b_)) for fold in folds]
        coefs = [fold.estimator.coef_[0] for fold in folds]
        self.weights = {term: (float(vectorizer.idf_[index]),
                               [float(coef[index]) for coef in coefs])
                        for term, index in vectorizer.vocabulary_.items()}

    def probability(self, text: str) -> float:
        if self.lowercase:
            text = text.lower()
        counts = Counter(self.token.findall(text))
        sums = [0.0] * len(self.folds)
        norm = 0.0
        for term, count in counts.items():
            entry = self.weights.get(term)
            if entry is None:
                continue
            idf, coefs = entry
            value = count * idf
            norm += value * value
            for k, coef in enumerate(coefs):
                sums[k] += value * coef
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        total = 0.0
        for (intercept, slope, offset), dot in zip(self.folds, sums, strict=True):
            decision = dot * scale + intercept
            x = -(slope * decision + offset)
            if x >= 0:
                total += 1.0 / (1.0 + math.exp(-x))
            else:
                z = math.exp(x)
                total += z / (1.0 + z)
        return total / len(self.folds)


class ReferenceClassifier:
    """`DefaultClassifier.classify` and `score_text`, the straightforward way."""

    def __init__(self, thresholds: dict[str, float] | None = None,
                 max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.thresholds = {**dict.fromkeys(CATEGORIES, 0.8), **(thresholds or {})}
        self.max_chars = max_chars
        self.profanity = ReferenceProfanity()

    def score_text(self, text: str) -> dict[str, float]:
        scores = reference_lexicon_scores(text)
        abuse = self.profanity.probability(text)
        if not _TARGETED.search(text):
            abuse *= 0.5
        scores["harassment"] = max(scores["harassment"], abuse)
        return {category: round(score, 4) for category, score in scores.items()}

    def scores(self, input_text: str, output_text: str) -> dict[str, float]:
        scores = dict.fromkeys(CATEGORIES, 0.0)
        for text in (input_text[-self.max_chars:], output_text[:self.max_chars]):
            if not text:
                continue
            for category, score in self.score_text(text).items():
                if score > scores[category]:
                    scores[category] = score
        return scores

    def classify(self, input_text: str, output_text: str, name: str, version: str
                 ) -> ClassificationResult:
        scores = self.scores(input_text, output_text)
        return ClassificationResult(name, version, scores, label_scores(scores, self.thresholds))
