"""The trained model of `alt-profanity-check`, evaluated without scikit-learn's per-call overhead.

The package ships a TF-IDF vectorizer and a calibrated linear SVM (five cross-validation folds,
each a `LinearSVC` with a sigmoid calibrator, averaged). Its own `predict_prob` spends ~4 ms per
call on input validation; this module reads the same fitted parameters once and computes the same
probability in pure Python (a few microseconds for a short text). A test checks both agree to 1e-9.

For ASCII text with the vectorizer's default token pattern (runs of two or more word characters),
tokens are found with `bytes.translate` + `split` (every non-word byte to a space) instead of the
regular expression: the same tokens in the same order (one-character ones are in no vocabulary),
so the same sums in the same order, bit for bit.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from typing import Any

import joblib

PACKAGE = "alt-profanity-check"
# scikit-learn's default token pattern: runs of two or more word characters.
DEFAULT_WORD_PATTERN = r"(?u)\b\w\w+\b"
# ASCII bytes: word characters ([0-9A-Za-z_]) stay, everything else becomes a space.
ASCII_WORDS = bytes(byte if chr(byte).isalnum() or byte == ord("_") else ord(" ")
                     for byte in range(128)) + b" " * 128


@dataclass(frozen=True, slots=True)
class _Fold:
    intercept: float
    slope: float        # sigmoid calibration: p = 1 / (1 + exp(slope * d + offset))
    offset: float


class ProfanityModel:
    """Probability that a text is profane or abusive, from the shipped model."""

    def __init__(self) -> None:
        data = resources.files("profanity_check") / "data"
        with resources.as_file(data / "vectorizer.joblib") as path:
            vectorizer = joblib.load(path)
        with resources.as_file(data / "model.joblib") as path:
            model = joblib.load(path)
        params = vectorizer.get_params()
        self._token = re.compile(params["token_pattern"])
        self._lowercase = bool(params["lowercase"])
        folds = model.calibrated_classifiers_
        self._folds = tuple(
            _Fold(float(fold.estimator.intercept_[0]), float(fold.calibrators[0].a_),
                  float(fold.calibrators[0].b_))
            for fold in folds)
        idf = vectorizer.idf_
        coefs = [fold.estimator.coef_[0] for fold in folds]
        # term -> (idf, coefficient of fold 1, ..., of fold n)
        self._weights: dict[str, tuple[float, ...]] = {
            term: (float(idf[index]), *(float(coef[index]) for coef in coefs))
            for term, index in vectorizer.vocabulary_.items()
        }
        # the same for ASCII terms, keyed by their bytes (what the ASCII tokenizer yields)
        self._ascii_weights: dict[bytes, tuple[float, ...]] = {
            term.encode("ascii"): weights for term, weights in self._weights.items()
            if term.isascii()
        }
        self._ascii_tokens = params["token_pattern"] == DEFAULT_WORD_PATTERN
        self._dots = _dots_of_five if len(self._folds) == 5 else _dots
        self.version = version(PACKAGE)

    def probability(self, text: str) -> float:
        """P(profane) for one text; same value as `profanity_check.predict_prob([text])[0]`."""
        return self.probability_and_words(text)[0]

    def probability_and_words(self, text: str) -> tuple[float, Counter[bytes] | None]:
        """`probability(text)`, and for ASCII text the words it was computed from (runs of word
        characters, one character long included, lower-cased, as bytes) — None for other text,
        or when the vectorizer does not lower-case or tokenize the default way."""
        if self._lowercase:
            text = text.lower()
        counts: Counter[str] | Counter[bytes]
        words: Counter[bytes] | None = None
        if self._ascii_tokens and text.isascii():
            counts = Counter(text.encode("ascii").translate(ASCII_WORDS).split())
            weights: Mapping[Any, tuple[float, ...]] = self._ascii_weights
            if self._lowercase:
                words = counts
        else:
            counts = Counter(self._token.findall(text))
            weights = self._weights
        sums, norm = self._dots(counts, weights, len(self._folds))
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        total = 0.0
        for fold, dot in zip(self._folds, sums, strict=True):
            decision = dot * scale + fold.intercept
            total += _expit(-(fold.slope * decision + fold.offset))
        return total / len(self._folds), words


def _dots(counts: Mapping[Any, int], weights: Mapping[Any, tuple[float, ...]], folds: int
          ) -> tuple[list[float], float]:
    """Per fold the dot product of the TF-IDF vector (before normalization) with the fold's
    coefficients, and the vector's squared norm; terms in the order of `counts`."""
    sums = [0.0] * folds
    norm = 0.0
    for term, count in counts.items():
        entry = weights.get(term)
        if entry is None:
            continue
        value = count * entry[0]
        norm += value * value
        for k in range(folds):
            sums[k] += value * entry[k + 1]
    return sums, norm


def _dots_of_five(counts: Mapping[Any, int], weights: Mapping[Any, tuple[float, ...]],
                  folds: int) -> tuple[list[float], float]:
    """`_dots` for the shipped model's five folds, unrolled: the same operations in the same
    order (so the same floats), without the inner loop."""
    s0 = s1 = s2 = s3 = s4 = norm = 0.0
    get = weights.get
    for term, count in counts.items():
        entry = get(term)
        if entry is None:
            continue
        idf, c0, c1, c2, c3, c4 = entry
        value = count * idf
        norm += value * value
        s0 += value * c0
        s1 += value * c1
        s2 += value * c2
        s3 += value * c3
        s4 += value * c4
    return [s0, s1, s2, s3, s4], norm


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
