"""The pure-Python evaluation of the alt-profanity-check model equals the package's own."""

from __future__ import annotations

from profanity_check import predict_prob
from safety_data import labelled_rows

from zdr.safety.profanity import ProfanityModel


def test_same_probabilities_as_predict_prob() -> None:
    texts = [row["input"] for row in labelled_rows()] + ["", "!!!", "shit " * 50, "ÄÖÜ straße"]
    expected = predict_prob(texts)
    model = ProfanityModel()
    got = [model.probability(text) for text in texts]
    assert max(abs(a - b) for a, b in zip(expected, got, strict=True)) < 1e-9
    assert min(got) < 0.1 and max(got) > 0.9      # the model does separate something
