"""Run an ASGI app (under uvicorn) or the stand-in upstream in a background thread, on a free
loopback port chosen at run time. For tests and benchmarks; each server stops on `close()`."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn
from aiohttp import web

from zdr.gateway.server_protocol import protocol_named
from zdr.testing.stub_upstream import StubConfig, StubUpstream

START_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port free right now (for a server another process will bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Return once something listens on this loopback port; RuntimeError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class _ThreadServer:
    def __init__(self) -> None:
        self.sock = bound_socket()
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None,
                                   TracebackType | None]) -> None:
        self.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError("server did not start in time")
        if self._error is not None:
            raise RuntimeError("server failed to start") from self._error

    def _run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class UvicornThread(_ThreadServer):
    """An ASGI app under uvicorn (uvloop, the gateway's own HTTP/1.1 protocol), as
    `zdr serve` runs it."""

    def __init__(self, app: Any, **config: Any) -> None:
        super().__init__()
        options: dict[str, Any] = {"loop": "uvloop", "http": protocol_named("zdr"),
                   "log_level": "warning", "access_log": False, "lifespan": "on",
                   "timeout_graceful_shutdown": 10, "proxy_headers": False}
        options.update(config)
        self.server = uvicorn.Server(uvicorn.Config(app, **options))

    def _run(self) -> None:
        import uvloop

        async def serve() -> None:
            task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
            deadline = time.monotonic() + START_TIMEOUT
            while not self.server.started and not task.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self._started.set()
            await task

        try:
            uvloop.run(serve())
        except BaseException as error:  # noqa: BLE001 - handed to the starting thread
            self._error = error
            self._started.set()

    def close(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.sock.close()


class StubThread(_ThreadServer):
    """The stand-in upstream (aiohttp.web) in its own loop."""

    def __init__(self, config: StubConfig | None = None) -> None:
        super().__init__()
        self.stub = StubUpstream(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        import uvloop

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            runner = web.AppRunner(self.stub.app(), access_log=None)
            await runner.setup()
            await web.SockSite(runner, self.sock).start()
            self._started.set()
            await self._stop.wait()
            await runner.cleanup()

        try:
            uvloop.run(serve())
        except BaseException as error:  # noqa: BLE001 - handed to the starting thread
            self._error = error
            self._started.set()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.sock.close()
