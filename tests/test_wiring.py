"""`zdr.wiring.build_app` opens each shared thing once per process: one catalog, one database
engine, one reading of the master key, one `Keyring` (so one cache of data keys) and one control
plane — the gateway's ports, the purge sweeper's erasure receipts, the admin API and the console
all use them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import zdr.catalog
import zdr.control.plane
import zdr.store.crypto
import zdr.store.db
import zdr.wiring
from zdr.control.bootstrap import init_home
from zdr.settings import load_settings
from zdr.testing.logcapture import CapturedLines


def counting(counts: Counter[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return real(*args, **kwargs)

    return call


def test_one_catalog_engine_master_key_keyring_and_control_plane_per_app(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = tmp_path / "catalog.toml"      # a catalog file of the operator's: read once
    catalog.write_text(resources.files("zdr.catalog").joinpath("default.toml").read_text())
    settings = load_settings(env={}, home=tmp_path / "home", catalog_path=catalog)
    init_home(settings, "admin@localhost")
    assert settings.purge_interval_seconds > 0      # the sweeper, and its receipts, are wired
    counts: Counter[str] = Counter()
    for module in (zdr.wiring, zdr.control.plane, zdr.store.db, zdr.store.crypto, zdr.catalog):
        for name in ("engine_for", "load_master_key", "Keyring", "load_catalog",
                     "build_control_plane"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counting(counts, name, getattr(module, name)))
    app = zdr.wiring.build_app(settings, log_writer=CapturedLines())
    assert app.fallback is not None     # the admin API and the console are served
    assert counts == {"engine_for": 1, "load_master_key": 1, "Keyring": 1, "load_catalog": 1,
                      "build_control_plane": 1}


@pytest.mark.parametrize(("value", "client"), [
    (None, "HttptoolsUpstream"), ("aiohttp", "AiohttpUpstream"), ("httptools", "HttptoolsUpstream"),
])
def test_the_upstream_client_is_the_settings_choice(tmp_path: Path, value: str | None,
                                                    client: str) -> None:
    env = {} if value is None else {"ZDR_UPSTREAM_CLIENT": value}
    settings = load_settings(env=env, home=tmp_path / "home")
    assert type(zdr.wiring._upstream(settings)).__name__ == client


def test_an_unknown_upstream_client_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="upstream_client"):
        load_settings(env={"ZDR_UPSTREAM_CLIENT": "curl"}, home=tmp_path / "home")
