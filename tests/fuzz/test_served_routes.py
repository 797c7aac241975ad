"""Unknown routes on the app `zdr serve` runs (gateway + console fallback, `zdr.wiring`): outside
the console, every unknown path and method must get a 4xx in the API's error format, like the
gateway's own 404/405 — clients of the API parse that format."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from asgi_driver import call

from zdr.control.bootstrap import init_home
from zdr.settings import load_settings
from zdr.testing.logcapture import CapturedLines
from zdr.wiring import build_app, control_plane_app

UNKNOWN = [
    ("GET", "/"),
    ("GET", "/v1/unknown"),
    ("POST", "/v2/messages"),
    ("DELETE", "/v1/complete"),
    ("GET", "/admin/orgs"),
    ("GET", "/v1/messages/../../etc/passwd"),
    ("PROPFIND", "/%00"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = load_settings(env={}, home=tmp_path_factory.mktemp("served") / "home")
    init_home(settings, "admin@localhost")
    yield build_app(settings, fallback=control_plane_app(settings), log_writer=CapturedLines())


@pytest.mark.parametrize("method, path", UNKNOWN)
def test_unknown_routes_of_the_served_app_answer_in_the_api_error_format(
    served: Any, method: str, path: str
) -> None:
    answer = asyncio.run(call(served, method, path, [(b"content-type", b"application/json")],
                              [b"{}"]))
    assert 400 <= answer.status < 500
    body = orjson.loads(answer.body)
    assert body["type"] == "error" and body["error"]["type"].endswith("_error")


def test_the_gateways_own_unknown_routes_answer_in_the_api_error_format(tmp_path: Path) -> None:
    """Without a fallback the gateway itself answers (the in-process fuzz covers this in depth)."""
    settings = load_settings(env={}, home=tmp_path / "home")
    app = build_app(settings, use_store=False, log_writer=CapturedLines())
    answer = asyncio.run(call(app, "GET", "/v1/unknown", []))
    assert answer.status == 404
    assert orjson.loads(answer.body)["error"]["type"] == "not_found_error"
