"""The `store` fixture: a migrated SQLite store in a temporary home (see store_builder)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_builder import MASTER, Store

from zdr.settings import load_settings
from zdr.store.crypto import Keyring
from zdr.store.db import engine_for, migrate


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    home = tmp_path / "home"
    home.mkdir()
    settings = load_settings(env={"ZDR_MASTER_KEY": base64.b64encode(MASTER).decode()},
                             home=home)
    engine = engine_for(settings.database_url)
    migrate(engine)
    try:
        yield Store(settings, engine, Keyring(engine, MASTER))
    finally:
        engine.dispose()
