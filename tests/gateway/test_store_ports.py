"""The gateway fails closed on its store: once a home has a store or a master key, a master key
that cannot be opened stops `build_app` (and `zdr serve` before any worker starts) instead of
letting the gateway serve on in-memory ports, where nothing it is told would be kept or checked
as configured. Only a home with neither (before `zdr init`) runs in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from zdr.cli.serve_cmds import prepare_store
from zdr.control.bootstrap import init_home
from zdr.inmemory import InMemorySink
from zdr.settings import Settings, load_settings
from zdr.store.crypto import MasterKeyError
from zdr.testing.logcapture import CapturedLines
from zdr.wiring import build_app


@pytest.fixture
def initialised(tmp_path: Path) -> Settings:
    settings = load_settings(env={}, home=tmp_path / "home")
    init_home(settings, "admin@localhost")
    return settings


def broken(settings: Settings, how: str, tmp_path: Path) -> Settings:
    if how == "key file deleted":
        settings.key_file.unlink()
    elif how == "key file readable by others":
        settings.key_file.chmod(0o644)
    elif how == "key file not base64":
        settings.key_file.write_text("not a key\n")
    elif how == "environment key malformed":
        return load_settings(env={"ZDR_MASTER_KEY": "bm90IGEga2V5"}, home=settings.home)
    return settings


HOW = ["key file deleted", "key file readable by others", "key file not base64",
       "environment key malformed"]


@pytest.mark.parametrize("how", HOW)
def test_a_store_whose_master_key_cannot_be_opened_stops_the_gateway(
        initialised: Settings, how: str, tmp_path: Path) -> None:
    settings = broken(initialised, how, tmp_path)
    with pytest.raises(MasterKeyError):
        build_app(settings, log_writer=CapturedLines())


@pytest.mark.parametrize("how", HOW)
def test_zdr_serve_refuses_to_start_on_such_a_store(initialised: Settings, how: str,
                                                    tmp_path: Path) -> None:
    with pytest.raises(typer.Exit):
        prepare_store(broken(initialised, how, tmp_path))


def test_a_home_with_neither_store_nor_key_runs_in_memory(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "empty")
    app = build_app(settings, log_writer=CapturedLines())
    assert isinstance(app.sink, InMemorySink)
    prepare_store(settings)         # nothing to refuse


def test_an_initialised_home_runs_on_the_store(initialised: Settings) -> None:
    app = build_app(initialised, log_writer=CapturedLines())
    assert not isinstance(app.sink, InMemorySink)
