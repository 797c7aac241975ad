"""The optimized default classifier scores exactly like the straightforward one (reference_scoring):
on the whole labelled set, transformed copies of it, and generated texts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_scoring import ReferenceClassifier, reference_lexicon_scores
from safety_data import labelled_rows

from zdr.safety import profanity
from zdr.safety.default import _TARGETED, DefaultClassifier, targeted
from zdr.safety.lexicon import _NEEDLES, CUES, lexicon_scores

THRESHOLDS = {"harassment": 0.3, "weapons": 0.95}
NEEDLES = sorted({needle for cues in CUES.values() for cue in cues
                  for needles in cue.needles for needle in needles})
# Words that move some detector: cue literals, abuse, "addressed to someone", and look-alikes
# whose upper or lower case is not ASCII (Kelvin sign, long s, dotted I, typographic apostrophes).
WORDS = [*NEEDLES, "fuck", "shit", "idiot", "stupid", "bitch", "damn", "hate", "you", "You",
         "YOU'RE", "you\u2019re", "u", "ur", "ya", "calling", "Tell", "insult", "he's",
         "she\u2019s", "they're", "theyre", "hes", "\u212aill", "\u017fhe's", "\u0130",
         "caf\u00e9", "_", "1",
         "12-year-old", "Kill", "MY", "Boss", "I'll", "I\u2019ll", "pipe bomb", "x"]
SEPARATORS = [" ", "", "'", "\u2019", "\n", "-", "_", ". ", "!"]


@pytest.fixture(scope="module")
def reference() -> ReferenceClassifier:
    return ReferenceClassifier()


@pytest.fixture(scope="module")
def reference_thresholds() -> ReferenceClassifier:
    return ReferenceClassifier(THRESHOLDS, max_chars=60)


def _variants(text: str) -> list[str]:
    return [text, text.upper(), text.title(), text.replace("'", "\u2019"),
            text.replace("s", "\u017f"), text + " \u00e9"]


def test_classify_equals_the_reference_on_the_labelled_set(
    default_classifier: DefaultClassifier, reference: ReferenceClassifier,
    reference_thresholds: ReferenceClassifier,
) -> None:
    """Every labelled exchange (and upper-cased, apostrophe-swapped, non-ASCII copies), with the
    default and with other thresholds and a small character limit: equal scores and labels."""
    other = DefaultClassifier(THRESHOLDS, max_chars=60)
    rows = labelled_rows()
    compared = flagged = 0
    for row in rows:
        for text in _variants(row["input"]):
            for pair in ((text, row["output"]), (row["output"], text), (text, "")):
                name, version = default_classifier.name, default_classifier.version
                got = default_classifier.classify(*pair)
                assert got == reference.classify(*pair, name, version), pair
                assert other.classify(*pair) == reference_thresholds.classify(
                    *pair, other.name, other.version), pair
                compared += 1
                flagged += got.flagged
    assert compared == len(rows) * 18
    assert 0 < flagged < compared          # both kinds of verdict were compared


def test_score_text_and_lexicon_equal_the_reference_on_the_labelled_set(
    default_classifier: DefaultClassifier, reference: ReferenceClassifier,
) -> None:
    rows = labelled_rows()
    joined = " ".join(row["input"] for row in rows)
    for text in [*(row["input"] for row in rows), *(row["output"] for row in rows), joined]:
        assert default_classifier.score_text(text) == reference.score_text(text)
        assert lexicon_scores(text) == reference_lexicon_scores(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14), st.sampled_from(SEPARATORS),
       st.sampled_from(SEPARATORS))
def test_classify_equals_the_reference_on_word_salad(
    default_classifier: DefaultClassifier, reference: ReferenceClassifier,
    words: list[str], separator: str, other_separator: str,
) -> None:
    text = separator.join(words)
    output = other_separator.join(reversed(words))
    name, version = default_classifier.name, default_classifier.version
    assert default_classifier.classify(text, output) == reference.classify(
        text, output, name, version)
    assert lexicon_scores(text) == reference_lexicon_scores(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.text(alphabet="abcdehiklmnoprstuy '\u2019-_\n\u212a\u017f",
                                      max_size=120))
def test_classify_equals_the_reference_on_arbitrary_text(
    default_classifier: DefaultClassifier, reference: ReferenceClassifier,
    anything: str, letters: str,
) -> None:
    name, version = default_classifier.name, default_classifier.version
    for pair in ((anything, letters), (letters, anything)):
        assert default_classifier.classify(*pair) == reference.classify(*pair, name, version)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["you", "you're", "youre", "your", "yourself", "ur", "u", "ya",
                                 "call", "calling", "tell", "insult", "he's", "hes", "she's",
                                 "shes", "they're", "theyre", "they", "he", "she", "s", "re",
                                 "yo", "bus", "recall", "Tell", "YOU", "1", "_", "x", "c"]),
                max_size=6),
       st.sampled_from(["", " ", "'", "-", "_", "\n", "."]))
def test_the_targeted_test_equals_the_case_insensitive_pattern(
    default_classifier: DefaultClassifier, words: list[str], separator: str,
) -> None:
    """Words of the text (its own, or the profanity model's) and the pattern as a fallback: the
    same answer as the case-insensitive pattern."""
    text = separator.join(words)
    expected = _TARGETED.search(text) is not None
    assert targeted(text, text.lower()) == expected
    _, counted = default_classifier._profanity.probability_and_words(text)
    assert counted is not None
    assert targeted(text, text.lower(), counted) == expected


def test_needles_are_found_exactly_in_long_text() -> None:
    """The automaton reports every needle, also when one text holds them all many times."""
    text = "|".join(NEEDLES * 3)
    assert _NEEDLES.present(text) == set(NEEDLES)


def test_the_generic_fold_loop_equals_the_unrolled_one() -> None:
    """`_dots` (any number of folds) equals `_dots_of_five` (the shipped model), float for float."""
    model = profanity.ProfanityModel()
    weights: Any = model._weights
    for row in labelled_rows():
        counts: Any = profanity.Counter(model._token.findall(row["input"].lower()))
        assert profanity._dots(counts, weights, 5) == profanity._dots_of_five(counts, weights, 5)


def test_the_finder_gives_the_same_result_in_several_threads_at_once() -> None:
    """Worker threads share one automaton (read-only after it is built)."""
    texts = [row["input"].lower() for row in labelled_rows()]
    expected = [_NEEDLES.present(text) for text in texts]

    def scan() -> bool:
        return all(_NEEDLES.present(text) == want for _ in range(5)
                   for text, want in zip(texts, expected, strict=True))

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = [pool.submit(scan) for _ in range(4)]
        assert all(outcome.result(timeout=60) for outcome in outcomes)
