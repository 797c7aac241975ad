"""The one-pass literal finder equals a substring scan, so lexicon scores are unchanged by it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from safety_data import labelled_rows

from zdr.safety.lexicon import (
    _APOSTROPHES,
    _NEEDLES,
    _PROTECTIVE,
    CUES,
    NeedleFinder,
    lexicon_scores,
)

ALL_NEEDLES = sorted({needle for cues in CUES.values() for cue in cues
                      for needles in cue.needles for needle in needles})
WORDS = ["kill", "killed", "skill", "my", "myself", "boss", "how", "to", "make", "pipe", "bomb",
         "bombs", "you", "your", "i'll", "hack", "into", "her", "account", "muslims", "are",
         "vermin", "12-year-old", "sex", "sexual", "ransomware", "write", "the", "child",
         "children", "explicit", "end", "life", "i", "will", "protect", "teen", "x"]


def _plain_scores(text: str) -> dict[str, float]:
    """The lexicon's definition, with no prefilter at all: every cue's pattern on the text."""
    lowered = text.translate(_APOSTROPHES).lower()
    scores = {}
    for category, cues in CUES.items():
        remaining = 1.0
        for cue in cues:
            if cue.pattern.search(lowered):
                remaining *= 1.0 - cue.weight
        scores[category] = 1.0 - remaining
    if scores["sexual_minors"] and _PROTECTIVE.search(lowered):
        scores["sexual_minors"] *= 0.5
    return scores


def _scan(text: str) -> set[str]:
    return {needle for needle in ALL_NEEDLES if needle in text}


def test_finder_finds_overlapping_and_nested_strings() -> None:
    finder = NeedleFinder(["kill", "killer", "ill", "er", "bomb", "a"])
    assert finder.present("skillers") == {"kill", "killer", "ill", "er"}
    assert finder.present("a bom") == {"a"}
    assert finder.present("") == set()
    assert NeedleFinder([]).present("anything") == set()


def test_finder_equals_a_substring_scan_on_the_labelled_set() -> None:
    rows = labelled_rows()
    for row in rows:
        for text in (row["input"], row["output"]):
            lowered = text.translate(_APOSTROPHES).lower()
            assert _NEEDLES.present(lowered) == _scan(lowered)
    joined = " ".join(row["input"] for row in rows).lower()
    assert _NEEDLES.present(joined) == _scan(joined)


def test_scores_equal_the_unfiltered_patterns_on_the_labelled_set() -> None:
    for row in labelled_rows():
        for text in (row["input"], row["output"]):
            assert lexicon_scores(text) == _plain_scores(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=16),
       st.sampled_from([" ", "", "-", "\n"]))
def test_finder_and_scores_agree_on_word_salad(words: list[str], separator: str) -> None:
    text = separator.join(words)
    assert _NEEDLES.present(text) == _scan(text)
    assert lexicon_scores(text) == _plain_scores(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdeiklmnoprstuy '-", max_size=80))
def test_finder_equals_a_substring_scan_on_arbitrary_text(text: str) -> None:
    assert _NEEDLES.present(text) == _scan(text)
