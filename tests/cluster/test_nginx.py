"""nginx as `zdr.cluster.nginx` configures it, in front of a small backend that shows what it
receives: streams pass unbuffered, bodies never touch a temporary file, the client's address is
nginx's to name, paths stay out of the logs, and nginx's own errors answer in the API's format."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from zdr.cluster.nginx import Nginx, example_site
from zdr.testing.canaries import new_canary
from zdr.testing.servers import free_port

ROOT = Path(__file__).parents[2]
CHUNK_PAUSE = 0.4


class Backend:
    """An aiohttp server in a thread: echoes headers, streams slowly, swallows bodies, hangs."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/echo", self.echo)
        app.router.add_get("/v1/models/{name}", self.echo)
        app.router.add_post("/stream", self.stream)
        app.router.add_post("/sink", self.sink)
        app.router.add_get("/hang", self.hang)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response({"headers": {k.lower(): v for k, v in request.headers.items()}},
                                 headers={"request-id": "req_backend"})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for number in range(3):
            await response.write(f"data: {number}\n\n".encode())
            await asyncio.sleep(CHUNK_PAUSE)
        await response.write_eof()
        return response

    async def sink(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("wait", "0")))     # nginx holds the body
        body = await request.read()
        self.received.append(len(body))
        return web.json_response({"bytes": len(body)})

    async def hang(self, request: web.Request) -> web.Response:
        await asyncio.sleep(4)
        return web.json_response({})

    def __enter__(self) -> Backend:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    with Backend() as server:
        yield server


@contextlib.contextmanager
def nginx_before(*ports: int, read_timeout: int = 60) -> Iterator[Nginx]:
    prefix = Path(tempfile.mkdtemp(prefix="zdr-nginx-test-"))
    prefix.chmod(0o711)
    nginx = Nginx(prefix, free_port(), [f"127.0.0.1:{port}" for port in ports],
                  read_timeout=read_timeout)
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()
        import shutil

        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def nginx(backend: Backend) -> Iterator[Nginx]:
    with nginx_before(backend.port) as server:
        yield server


def call(nginx: Nginx, path: str, *, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10
         ) -> tuple[int, dict[str, list[str]], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{nginx.port}{path}", data=body,
                                     method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, _headers(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, _headers(error.headers), error.read()


def _headers(message: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in message.items():
        found.setdefault(name.lower(), []).append(value)
    return found


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def temporary_files(nginx: Nginx) -> list[Path]:
    """Files under nginx's temp folder that its processes hold open (deleted or not)."""
    assert nginx.process is not None
    temp = str(nginx.prefix / "temp")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if int(entry.name) != nginx.process.pid and \
                    int(stat.rsplit(")", 1)[1].split()[1]) != nginx.process.pid:
                continue
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = str(fd.readlink())
                    if target.startswith(temp):
                        found.append(Path(target))
    return found


def test_the_deploy_file_is_the_template_rendered_for_two_instances() -> None:
    """deploy/nginx/zdr-gateway.conf is what the code renders (python -m zdr.cluster.nginx)."""
    deployed = (ROOT / "deploy" / "nginx" / "zdr-gateway.conf").read_text(encoding="utf-8")
    assert deployed == example_site()


def test_the_client_address_is_named_by_nginx_not_by_the_client(nginx: Nginx) -> None:
    """A client's own X-Forwarded-For is replaced, so the gateway can believe the header."""
    status, _, body = call(nginx, "/echo", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    seen = json.loads(body)["headers"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"


def test_a_proxied_answer_keeps_the_gateway_s_one_request_id(nginx: Nginx) -> None:
    _, headers, _ = call(nginx, "/echo")
    assert headers["request-id"] == ["req_backend"]


def test_streams_reach_the_client_as_they_are_sent(nginx: Nginx) -> None:
    """proxy_buffering off: the first event arrives long before the last is sent."""
    request = urllib.request.Request(f"http://127.0.0.1:{nginx.port}/stream", data=b"{}",
                                     method="POST")
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as answer:
        first = answer.readline()
        first_at = time.monotonic() - started
        rest = answer.read()
    total = time.monotonic() - started
    assert first == b"data: 0\n" and b"data: 2" in rest
    assert first_at < CHUNK_PAUSE, f"first event after {first_at:.2f} s: buffered"
    assert total >= 2 * CHUNK_PAUSE


def test_a_large_body_is_relayed_without_a_temporary_file(nginx: Nginx, backend: Backend
                                                          ) -> None:
    """A body larger than nginx's buffer streams through: no byte of it lands on disk, not
    even while the instance takes its time to read it (nginx unlinks a temporary file as soon
    as it opens it, so its workers' open files are looked at meanwhile)."""
    canary = new_canary("NGINX-BODY")
    body = (canary + " ").encode() * (3 * 1024 * 1024 // (len(canary) + 1))
    seen: list[Path] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.extend(temporary_files(nginx))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        status, _, answer = call(nginx, "/sink?wait=1", method="POST", body=body,
                                 headers={"content-type": "application/json"})
    finally:
        done.set()
        watcher.join()
    assert status == 200 and json.loads(answer)["bytes"] == len(body)
    assert not seen, f"nginx wrote the body to {seen[0]}"
    for path in files_under(nginx.prefix):
        assert canary.encode() not in path.read_bytes(), f"the body reached {path}"


def test_paths_stay_out_of_nginx_s_logs(nginx: Nginx) -> None:
    """A path can carry what a client chose (a model id): the access log names the route class."""
    canary = new_canary("NGINX-PATH")
    status, _, _ = call(nginx, f"/v1/models/{canary}?q={canary}")
    assert status == 200
    time.sleep(0.2)
    log = nginx.access_log.read_text(encoding="utf-8")
    assert " GET models 200 " in log
    for path in files_under(nginx.prefix):
        assert canary.encode() not in path.read_bytes(), f"the path reached {path}"


def test_metrics_are_not_served_through_the_load_balancer(nginx: Nginx) -> None:
    status, headers, body = call(nginx, "/metrics")
    assert status == 404
    assert json.loads(body)["error"]["type"] == "not_found_error"
    assert headers["content-type"] == ["application/json"]


def assert_api_error(status: int, headers: dict[str, list[str]], body: bytes,
                     expected: int) -> None:
    assert status == expected
    assert headers["content-type"] == ["application/json"]
    payload = json.loads(body)
    assert payload["type"] == "error" and payload["error"]["type"] == "api_error"
    assert headers["request-id"] == [payload["request_id"]]
    assert b"nginx" not in body and b"<html" not in body


def test_no_instance_reachable_is_a_502_in_the_api_format() -> None:
    with nginx_before(free_port(), free_port()) as nginx:
        status, headers, body = call(nginx, "/v1/messages", method="POST", body=b"{}")
    assert_api_error(status, headers, body, 502)


def test_an_instance_too_slow_to_answer_is_a_504_in_the_api_format(backend: Backend) -> None:
    with nginx_before(backend.port, read_timeout=1) as nginx:
        status, headers, body = call(nginx, "/hang")
    assert_api_error(status, headers, body, 504)


def test_requests_fail_over_from_a_dead_instance(backend: Backend) -> None:
    """One instance down: every request is served by the other (never sent twice)."""
    with nginx_before(free_port(), backend.port) as nginx:
        before = len(backend.received)
        answers = [call(nginx, "/sink", method="POST", body=b"x" * 10)[0] for _ in range(6)]
    assert answers == [200] * 6
    assert len(backend.received) - before == 6
