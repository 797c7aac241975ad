"""Fixtures of the safety tests (helpers live in safety_data.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def default_classifier() -> Any:
    from zdr.safety.default import DefaultClassifier

    return DefaultClassifier()
