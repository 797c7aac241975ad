"""The default classifier: offline, CPU only, no downloads, ~0.5 ms per short exchange.

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

import re
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

from zdr.safety.classifier import ClassificationResult, check_thresholds, label_scores
from zdr.safety.lexicon import CATEGORIES, lexicon_scores
from zdr.safety.profanity import ProfanityModel

DEFAULT_THRESHOLDS: dict[str, float] = {category: 0.8 for category in CATEGORIES}
# Per text, at most this many characters are scored: the end of the input (where the newest turn
# is) and the start of the output. Cost grows with length (~1 ms per 1,000 characters for the
# lexicon), and the pipeline runs on every exchange.
DEFAULT_MAX_CHARS = 8000
LEXICON_VERSION = "1"
# A text "addressed to or about someone": abuse in it is harassment, not just swearing.
_TARGETED = re.compile(
    r"\b(?:you|you'?re|youre|ur|u|your|yourself|ya|call(?:ing)?|tell|insult|he'?s|she'?s|"
    r"they'?re)\b", re.IGNORECASE)


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
        self._profanity = ProfanityModel()
        self.version = (f"{_package_version()}+lexicon.{LEXICON_VERSION}"
                        f"+profanity.{self._profanity.version}")

    @property
    def categories(self) -> tuple[str, ...]:
        return CATEGORIES

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        scores = dict.fromkeys(CATEGORIES, 0.0)
        limit = self.max_chars
        for text in (input_text[-limit:], output_text[:limit]):
            if not text:
                continue
            for category, score in self.score_text(text).items():
                if score > scores[category]:
                    scores[category] = score
        return ClassificationResult(
            self.name, self.version, scores, label_scores(scores, self._thresholds))

    def score_text(self, text: str) -> dict[str, float]:
        """Per-category scores of one text (both detectors)."""
        scores = lexicon_scores(text)
        abuse = self._profanity.probability(text)
        if not _TARGETED.search(text):
            abuse *= 0.5
        scores["harassment"] = max(scores["harassment"], abuse)
        return {category: round(score, 4) for category, score in scores.items()}
