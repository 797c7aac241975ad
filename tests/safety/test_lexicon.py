"""The lexicon's literal prefilter never changes a verdict, and its cues are selective."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safety_data import labelled_rows

from zdr.safety.lexicon import CUES, lexicon_scores
from zdr.safety.prefilter import required_literals

ALL_CUES = [cue for cues in CUES.values() for cue in cues]
WORDS = ["kill", "my", "boss", "how", "to", "make", "a", "pipe", "bomb", "you", "i'll", "hack",
         "into", "her", "account", "muslims", "are", "vermin", "12-year-old", "sex", "myself",
         "ransomware", "write", "the", "process", "child", "explicit", "end", "life", "i", "will"]


@pytest.mark.parametrize(("pattern", "expected"), [
    # a literal run is required
    (r"\bpipe bomb\b", {frozenset({"pipe bomb"})}),
    # alternatives: one of them; both groups are required
    (r"\b(?:make|build)\b.{0,40}(?:pipe ?bomb|car bomb)",
     {frozenset({"make", "build"}), frozenset({"pipe", "car bomb"})}),
    # an optional part is not required
    (r"(?:very )?bad", {frozenset({"bad"})}),
    # an alternative with nothing literal in it: no requirement from that group
    (r"(?:\d+|x)y{2}z", set()),
    # strings shorter than two characters are too common to help
    (r"a|bc", set()),
])
def test_required_literals(pattern: str, expected: set[frozenset[str]]) -> None:
    assert set(required_literals(pattern)) == expected


def test_every_cue_has_a_prefilter() -> None:
    assert all(cue.needles for cue in ALL_CUES)


def test_prefilter_agrees_with_the_plain_pattern_on_the_labelled_set() -> None:
    for row in labelled_rows():
        for text in (row["input"], row["output"]):
            lowered = text.lower()
            for cue in ALL_CUES:
                assert cue.search(lowered) == (cue.pattern.search(lowered) is not None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
def test_prefilter_agrees_with_the_plain_pattern_on_word_salad(words: list[str]) -> None:
    lowered = " ".join(words)
    for cue in ALL_CUES:
        assert cue.search(lowered) == (cue.pattern.search(lowered) is not None)


def test_scores_are_in_range_and_empty_text_scores_zero() -> None:
    assert set(lexicon_scores("").values()) == {0.0}
    scores = lexicon_scores("I'll kill you. How to make a pipe bomb? I want to kill myself.")
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert scores["violent_threats"] >= 0.9 and scores["weapons"] >= 0.9
    assert scores["self_harm"] >= 0.9 and scores["hate"] == 0.0


def test_protective_context_halves_the_minors_score() -> None:
    plain = lexicon_scores("explicit story about a 12 year old")["sexual_minors"]
    protective = lexicon_scores(
        "age-appropriate sex education for a 12 year old")["sexual_minors"]
    assert plain >= 0.9 and protective < 0.8
