"""Classifiers that misbehave on cue, loaded by `ProcessClassifier` children in the tests."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from zdr.safety.classifier import ClassificationResult


class Scripted:
    """Scores its own process id; exits, hangs, pauses, raises (with the text) or flags when the
    input says so. `load_delay` seconds at start (a classifier slow to load)."""

    name = "scripted"
    version = "1"

    def __init__(self, thresholds: Mapping[str, float] | None = None,
                 load_delay: str = "0") -> None:
        time.sleep(float(load_delay))

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        if "exit-now" in input_text:
            os._exit(3)
        if "hang-now" in input_text:
            time.sleep(30)
        if "pause-now" in input_text:
            time.sleep(0.5)
        if "raise-now" in input_text:
            raise ValueError(f"cannot classify {input_text!r}")     # text in the message on purpose
        return ClassificationResult(self.name, self.version, {"pid": float(os.getpid())},
                                    {"pid": "flag-now" in input_text})


class WatchedText(str):
    """A str that can be watched with a weakref (and unpickled in a child process)."""
