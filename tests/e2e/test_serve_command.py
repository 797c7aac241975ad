"""`zdr serve` as a user runs it (README): init, an org, a key, then a streamed request through
the gateway with the SDK; the stand-in upstream is started by `serve` itself and stops with it."""

import json

import anthropic
import httpx
import pytest

from serve_process import ZdrHome, wait_for
from zdr.testing.servers import port_open


@pytest.mark.slow
def test_readme_flow_with_two_workers(tmp_path):
    home = ZdrHome.fresh(tmp_path / "home")
    home.zdr("init")
    secret = home.org_with_key("acme")
    served = home.serve("--workers", "2")
    port = served.port
    try:
        with anthropic.Anthropic(api_key=secret, base_url=f"http://127.0.0.1:{port}",
                                 max_retries=0, timeout=10) as sdk:
            for _ in range(4):   # spread over both workers
                with sdk.messages.stream(model="claude-sonnet-5", max_tokens=16, messages=[
                        {"role": "user", "content": "hello"}]) as stream:
                    assert "".join(stream.text_stream) == "You said: hello"
                    assert stream.response.headers["zdr-retention"] == "30d"
            with pytest.raises(anthropic.AuthenticationError):
                sdk.with_options(api_key="sk-zdr-wrong").models.list()
        # The admin API and the console are served by the same process.
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/admin/v1/openapi.json").status_code == 200
        unauthorized = httpx.get(base + "/admin/v1/me")
        assert unauthorized.status_code == 401 and unauthorized.json()["type"] == "error"
        assert httpx.get(base + "/console/login").status_code == 200
        # A worker froze what start-up built, so full collections never walk it again.
        metrics = httpx.get(base + "/metrics").text
        frozen = next(float(line.split()[1]) for line in metrics.splitlines()
                      if line.startswith("zdr_gc_frozen_objects "))
        assert frozen > 10_000
        assert 'python_gc_collections_total{generation="2"}' in metrics
        # The store's lag is visible, and back to nothing once the writes are committed.
        def write_queue_depth():
            text = httpx.get(base + "/metrics").text
            return next(float(line.split()[1]) for line in text.splitlines()
                        if line.startswith("zdr_store_write_queue_depth "))
        assert wait_for(lambda: write_queue_depth() == 0.0, timeout=10)
        unknown = httpx.get(base + "/nowhere")
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    finally:
        served.stop()
    output = served.output()
    assert "the local stand-in" in output and "2 worker(s)" in output
    assert wait_for(lambda: not port_open(home.stub_port), timeout=10), \
        "the stand-in upstream outlived `zdr serve`"
    log = (tmp_path / "home" / "logs" / "gateway.log").read_text()
    exchanges = [json.loads(line) for line in log.splitlines() if '"exchange"' in line]
    assert len(exchanges) == 4 and {e["retention"] for e in exchanges} == {"30d"}
    assert "hello" not in log


@pytest.mark.slow
@pytest.mark.parametrize("client", ["httptools", "aiohttp"])
def test_streams_through_either_upstream_client(tmp_path, client):
    home = ZdrHome.fresh(tmp_path / "home", ZDR_UPSTREAM_CLIENT=client)
    home.zdr("init")
    secret = home.org_with_key("acme")
    served = home.serve()
    try:
        with anthropic.Anthropic(api_key=secret, base_url=f"http://127.0.0.1:{served.port}",
                                 max_retries=0, timeout=10) as sdk:
            for _ in range(3):   # the pooled connection is reused
                with sdk.messages.stream(model="claude-sonnet-5", max_tokens=16, messages=[
                        {"role": "user", "content": "hello"}]) as stream:
                    assert "".join(stream.text_stream) == "You said: hello"
                    assert stream.response.headers["zdr-retention"] == "30d"
            message = sdk.messages.create(model="claude-sonnet-5", max_tokens=16, messages=[
                {"role": "user", "content": "again"}])
            assert message.content[0].text == "You said: again"
    finally:
        served.stop()
    log = (tmp_path / "home" / "logs" / "gateway.log").read_text()
    started = [json.loads(line) for line in log.splitlines() if "gateway_started" in line]
    assert started and {e["upstream_client"] for e in started} == {client}
    assert len([line for line in log.splitlines() if '"exchange"' in line]) == 4


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["zdr", "uvicorn"])
def test_streams_through_either_http_protocol(tmp_path, protocol):
    """`http_protocol`: the gateway's own HTTP/1.1 protocol (the default) or uvicorn's; both
    stream, keep the connection alive, and answer malformed HTTP in the API's format."""
    home = ZdrHome.fresh(tmp_path / "home", ZDR_HTTP_PROTOCOL=protocol)
    home.zdr("init")
    secret = home.org_with_key("acme")
    served = home.serve()
    try:
        with anthropic.Anthropic(api_key=secret, base_url=f"http://127.0.0.1:{served.port}",
                                 max_retries=0, timeout=10) as sdk:
            for _ in range(3):
                with sdk.messages.stream(model="claude-sonnet-5", max_tokens=16, messages=[
                        {"role": "user", "content": "hello"}]) as stream:
                    assert "".join(stream.text_stream) == "You said: hello"
        answer = httpx.post(f"http://127.0.0.1:{served.port}/v1/messages", timeout=10,
                            headers={"content-length": "3", "transfer-encoding": "chunked"},
                            content=b"0\r\n\r\n")
        assert answer.status_code == 400
        assert answer.json()["error"]["type"] == "invalid_request_error"
    finally:
        served.stop()
