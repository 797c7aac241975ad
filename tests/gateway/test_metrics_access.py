"""Who may read `/metrics` and where: open on a loopback-only gateway, else only with the
metrics token or on the separate metrics port (zdr.gateway.metrics_access)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serve_process import ZdrHome, wait_for
from zdr.gateway.metrics_access import MetricsAccess
from zdr.settings import load_settings
from zdr.testing.harness import GatewayHarness
from zdr.testing.servers import StubThread, free_port, port_open

TOKEN = "metrics-token-4f1c9a"


@pytest.mark.parametrize(("settings", "on_gateway_port", "token"), [
    ({}, True, None),                                        # loopback: open, as before
    ({"host": "::1"}, True, None),
    ({"host": "0.0.0.0"}, False, None),                      # beyond loopback: not served
    ({"host": "10.1.2.3"}, False, None),
    ({"host": "0.0.0.0", "metrics_token": TOKEN}, True, TOKEN),
    ({"metrics_port": 9787}, False, None),                   # its own port only
    ({"metrics_port": 9787, "metrics_token": TOKEN}, False, TOKEN),
])
def test_where_metrics_are_served(settings: dict[str, Any], on_gateway_port: bool,
                                  token: str | None) -> None:
    access = MetricsAccess.from_settings(load_settings(env={}, home="h", **settings))
    assert (access.on_gateway_port, access.token) == (on_gateway_port, token)
    assert TOKEN not in repr(access)


@pytest.mark.parametrize(("authorization", "status"), [
    (None, 401), ("", 401), (f"Bearer {TOKEN}x", 401), (f"Basic {TOKEN}", 401),
    (f"Bearer {TOKEN[:-1]}", 401), (f"Bearer {TOKEN}", 200), (f"bearer  {TOKEN} ", 200),
])
def test_the_token_is_checked_exactly(authorization: str | None, status: int) -> None:
    assert MetricsAccess(token=TOKEN).status(authorization) == status


@pytest.fixture(scope="module")
def stub() -> Iterator[StubThread]:
    with StubThread() as server:
        yield server


def _metrics(url: str, authorization: str | None = None) -> httpx.Response:
    headers = {"authorization": authorization} if authorization else {}
    return httpx.get(url + "/metrics", headers=headers, timeout=10)


def test_beyond_loopback_without_a_token_metrics_answer_404(stub: StubThread,
                                                            tmp_path: Path) -> None:
    with GatewayHarness(tmp_path, stub.url, host="0.0.0.0") as gateway:
        answer = _metrics(gateway.url)
        assert answer.status_code == 404 and answer.json()["type"] == "error"
        assert httpx.get(gateway.url + "/healthz").status_code == 200


def test_with_a_token_metrics_need_it(stub: StubThread, tmp_path: Path) -> None:
    with GatewayHarness(tmp_path, stub.url, host="0.0.0.0", metrics_token=TOKEN) as gateway:
        refused = _metrics(gateway.url)
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        assert _metrics(gateway.url, "Bearer wrong").status_code == 401
        served = _metrics(gateway.url, f"Bearer {TOKEN}")
        assert served.status_code == 200 and "zdr_gateway_requests_total" in served.text
        assert TOKEN not in gateway.logs.text()


def test_with_a_metrics_port_they_are_served_there_only(stub: StubThread,
                                                        tmp_path: Path) -> None:
    port = free_port()
    with GatewayHarness(tmp_path, stub.url, metrics_port=port, metrics_token=TOKEN) as gateway:
        assert _metrics(gateway.url, f"Bearer {TOKEN}").status_code == 404
        separate = f"http://127.0.0.1:{port}"
        assert _metrics(separate).status_code == 401
        served = _metrics(separate, f"Bearer {TOKEN}")
        assert served.status_code == 200 and "zdr_gateway_requests_total" in served.text
        other = httpx.get(separate + "/v1/messages", timeout=10)
        assert other.status_code == 404 and other.json()["type"] == "error"
    assert not port_open(port), "the metrics listener stops with the gateway"


@pytest.mark.slow
def test_zdr_serve_with_workers_serves_metrics_on_its_own_port(tmp_path: Path) -> None:
    home = ZdrHome.fresh(tmp_path / "home")
    home.zdr("init")
    metrics_port = free_port()
    with home.serve("--workers", "2", "--metrics-port", str(metrics_port)) as served:
        assert wait_for(lambda: port_open(metrics_port))
        assert _metrics(f"http://127.0.0.1:{metrics_port}").status_code == 200
        assert _metrics(served.url).status_code == 404
    output = served.output()
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in output
    assert "Traceback" not in output and "address already in use" not in output.lower()
