"""ProcessClassifier sends the child only what its classifier scores, with the same results."""

from __future__ import annotations

from zdr.safety.default import DEFAULT_MAX_CHARS, DefaultClassifier
from zdr.safety.processes import ProcessClassifier

FILLER = "The build failed because the linker ran out of memory on the runner. " * 400
THREAT = " I'm going to kill you and your whole family tonight. "
KEYLOGGER = "Sure, here is a keylogger that hides from the task manager. "


def test_texts_are_trimmed_to_the_limit_the_child_reports(
        default_classifier: DefaultClassifier) -> None:
    classifier = ProcessClassifier("zdr.safety.default:DefaultClassifier")
    try:
        assert classifier.max_chars == DEFAULT_MAX_CHARS
        long_input, long_output = THREAT + FILLER, FILLER + KEYLOGGER
        assert len(long_input) > 3 * DEFAULT_MAX_CHARS
        assert classifier.trimmed(long_input, long_output) == (
            long_input[-DEFAULT_MAX_CHARS:], long_output[:DEFAULT_MAX_CHARS])
        cases = [(long_input, ""), (FILLER + THREAT, ""), ("Continue.", long_output),
                 ("Continue.", KEYLOGGER + FILLER)]
        results = classifier.classify_many(cases)
        for (input_text, output_text), result in zip(cases, results, strict=True):
            assert result == default_classifier.classify(input_text, output_text)
            assert classifier.classify(input_text, output_text) == result
        # beyond the limit a cue is not seen, within it it is: the trim changes nothing
        assert [result.flagged for result in results] == [False, True, False, True]
    finally:
        classifier.close()


def test_a_classifier_without_a_limit_gets_the_texts_whole() -> None:
    classifier = ProcessClassifier("zdr.safety.classifier:NullClassifier")
    try:
        assert classifier.max_chars is None
        assert classifier.trimmed(FILLER, FILLER) == (FILLER, FILLER)
    finally:
        classifier.close()
