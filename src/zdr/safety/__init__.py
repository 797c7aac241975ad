"""Safety classification: results always kept; flagged content kept under the misuse exception.

- `classifier`: the `Classifier` port, `NullClassifier`, `load_classifier(spec, thresholds)`;
- `default`: `DefaultClassifier`, offline on CPU (profanity model + Usage Policy lexicon);
- `http`: `HttpModerationClassifier`, a served moderation model (Llama Guard) over HTTP;
- `pipeline`: `SafetyPipeline`, the `zdr.ports.SafetyQueue` that classifies off the response path;
- `parts`: one result from the parts of an exchange of several texts (batches, files).

Which categories the default covers, and how well, is measured in `README.md` beside this file.
"""

from zdr.safety.classifier import (
    ClassificationResult,
    Classifier,
    ClassifierUnavailable,
    NullClassifier,
    load_classifier,
)

__all__ = [
    "ClassificationResult",
    "Classifier",
    "ClassifierUnavailable",
    "NullClassifier",
    "load_classifier",
]
