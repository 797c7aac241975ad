"""Fixtures for the policy tests: the packaged catalog."""

from __future__ import annotations

import pytest

from zdr.catalog import Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()
