"""The default classifier: offline, CPU only, no downloads, ~25 µs of CPU per short exchange.

Two detectors, each scoring the input and the output separately (the higher score counts):

- the trained linear model of `alt-profanity-check` (TF-IDF + calibrated linear SVM, shipped in
  its wheel) scores abusive language; it feeds `harassment` at full weight when the text is
  addressed to or about someone ("you", "tell", "call"), at half weight otherwise — so swearing
  at a build failure is not a Usage Policy violation;
- a curated lexicon of intent-and-target cues (`zdr.safety.lexicon`) scores the categories that
  profanity models miss: violent threats, weapons, self-harm, cyber abuse, sexual content
  involving minors, slur-free hate, and non-profane harassment (stalking, insult requests).

Each text is scored on at most `max_chars` characters (the end of the input, the start of the
output): a violation buried deeper in a long prompt is not seen. Measured quality on the labelled
set shipped with the tests, and the cost per exchange: see `zdr/safety/README.md`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Collection, Mapping
from importlib.metadata import PackageNotFoundError, version

from zdr.safety.classifier import ClassificationResult, check_thresholds
from zdr.safety.lexicon import CATEGORIES, matched_scores, normalized
from zdr.safety.profanity import ASCII_WORDS, ProfanityModel

DEFAULT_THRESHOLDS: dict[str, float] = {category: 0.8 for category in CATEGORIES}
_NO_SCORES: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
# Per text, at most this many characters are scored: the end of the input (where the newest turn
# is) and the start of the output. Cost grows with length (~0.1 ms per 1,000 characters), and
# the pipeline runs on every exchange.
DEFAULT_MAX_CHARS = 8000
LEXICON_VERSION = "1"
# A text "addressed to or about someone": abuse in it is harassment, not just swearing.
_TARGETED = re.compile(
    r"\b(?:you|you'?re|youre|ur|u|your|yourself|ya|call(?:ing)?|tell|insult|he'?s|she'?s|"
    r"they'?re)\b", re.IGNORECASE)
# The same test for ASCII text, on its lower-cased form. A match of `\bword\b` (word: letters
# only) is a whole run of word characters, so the alternatives without an apostrophe are words of
# the text; "you're" holds the word "you"; only "he's", "she's" and "they're" need the pattern,
# and only when the text holds one of them. A test checks this agrees with `_TARGETED`.
_TARGETED_WORDS = frozenset(word.encode("ascii") for word in (
    "you", "youre", "ur", "u", "your", "yourself", "ya", "call", "calling", "tell", "insult",
    "hes", "shes", "theyre"))
_TARGETED_LOWER = re.compile(_TARGETED.pattern)


def _package_version() -> str:
    try:
        return version("zdr-gateway")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


class DefaultClassifier:
    """Profanity model + Usage Policy lexicon; per-category thresholds (default 0.8)."""

    name = "zdr-default"

    def __init__(
        self,
        thresholds: Mapping[str, float] | None = None,
        max_chars: int | str = DEFAULT_MAX_CHARS,
    ) -> None:
        check_thresholds(CATEGORIES, thresholds or {})
        self.max_chars = int(max_chars)
        self._thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self._threshold_list = [self._thresholds[category] for category in CATEGORIES]
        self._profanity = ProfanityModel()
        self.version = (f"{_package_version()}+lexicon.{LEXICON_VERSION}"
                        f"+profanity.{self._profanity.version}")

    @property
    def categories(self) -> tuple[str, ...]:
        return CATEGORIES

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        scores = dict(_NO_SCORES)
        limit = self.max_chars
        for text in (input_text[-limit:], output_text[:limit]):
            if not text:
                continue
            for category, score in self._nonzero_scores(text).items():
                if score > scores[category]:
                    scores[category] = score
        labels = dict(zip(CATEGORIES, map(operator.ge, scores.values(), self._threshold_list),
                          strict=True))
        return ClassificationResult(self.name, self.version, scores, labels)

    def score_text(self, text: str) -> dict[str, float]:
        """Per-category scores of one text (both detectors)."""
        scores = dict(_NO_SCORES)
        scores.update(self._nonzero_scores(text))
        return scores

    def _nonzero_scores(self, text: str) -> dict[str, float]:
        """`score_text` for the categories some detector scores (always `harassment`), rounded
        to 4 places: the lexicon's matches, and the profanity model's abuse probability."""
        lowered = normalized(text)
        scores = matched_scores(lowered)
        abuse, words = self._profanity.probability_and_words(text)
        if not targeted(text, lowered, words):
            abuse *= 0.5
        scores["harassment"] = max(scores.get("harassment", 0.0), abuse)
        return {category: round(score, 4) for category, score in scores.items()}


def targeted(text: str, lowered: str, words: Collection[bytes] | None = None) -> bool:
    """Whether `text` is addressed to or about someone. `lowered`: its lower-cased form; `words`:
    for ASCII text, its lower-cased words (runs of word characters) if already at hand."""
    if not text.isascii():
        return _TARGETED.search(text) is not None
    if words is None:
        words = lowered.encode("ascii").translate(ASCII_WORDS).split()
    if not _TARGETED_WORDS.isdisjoint(words):
        return True
    return (("he's" in lowered or "they're" in lowered)
            and _TARGETED_LOWER.search(lowered) is not None)
