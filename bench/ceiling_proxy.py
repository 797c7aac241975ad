"""The bare pass-through of bench/bare_proxy.py, on other servers and upstream clients.

    bench/.venv-ceiling/bin/python bench/ceiling_proxy.py --server granian-rsgi \
        --client httptools --port 9100 --upstream http://127.0.0.1:8788 [--fastnet]

Servers: `uvicorn` (ASGI, uvloop + httptools: the gateway's server), `granian-asgi` and
`granian-rsgi` (granian's Rust HTTP server, its ASGI and its own RSGI interface, on uvloop),
`socketify` (uWebSockets through socketify's ASGI adapter), `own-asgi` and `own-direct`
(bench/ceiling_server.py: a purpose-built HTTP/1.1 protocol on uvloop + httptools, calling the
same ASGI app with a minimal scope, or `direct_app` on its own request/response interface),
`zdr-bounded` and `zdr-own` (uvicorn with the product's protocols, `zdr serve`'s bounded
uvicorn protocol and its own `zdr.gateway.http_server`; run with the product's Python).
Clients: bench/ceiling_clients.py.
`--fastnet` patches the event loop with aiofastnet at start-up (every transport the process
opens afterwards, the server's included where the server uses asyncio's, is aiofastnet's).

Every variant relays the same way: the request body read whole, the allowed headers forwarded,
the response relayed chunk by chunk as it arrives (streams are not buffered). Like the gateway
(src/zdr/gateway/client.py) it watches for the client hanging up once an exchange has lasted
`WATCH_DELAY` seconds and then cancels the exchange, which aborts the upstream request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

from ceiling_clients import Answer, Upstream, upstream_from_env

FORWARD = (b"content-type", b"anthropic-version", b"anthropic-beta", b"x-api-key", b"accept")
FORWARD_TEXT = tuple(name.decode() for name in FORWARD)
WATCH_DELAY = 0.05
_upstream: Upstream | None = None


def upstream() -> Upstream:
    global _upstream
    if _upstream is None:
        if os.environ.get("CEILING_FASTNET") == "1":
            import aiofastnet

            aiofastnet.patch_loop(asyncio.get_running_loop())
        _upstream = upstream_from_env()
    return _upstream


class HangUpWatch:
    """Cancels the serving task when `wait_gone()` returns before the response is complete."""

    __slots__ = ("_task", "_timer", "_wait_gone", "_watch", "complete", "gone")

    def __init__(self, wait_gone: Any) -> None:
        self._wait_gone = wait_gone
        self._task = asyncio.current_task()
        self._watch: asyncio.Task[None] | None = None
        self.complete = False
        self.gone = False
        self._timer = asyncio.get_running_loop().call_later(WATCH_DELAY, self._start)

    def _start(self) -> None:
        if not self.complete:
            self._watch = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._wait_gone()
            if not self.complete and self._task is not None:
                self.gone = True
                self._task.cancel()

    def stop(self) -> None:
        self.complete = True
        self._timer.cancel()
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()

    def absorb(self) -> bool:
        """True when a cancellation came from the client hanging up (and is now absorbed)."""
        if self.gone and self._task is not None:
            self._task.uncancel()
            return True
        return False


# ---------------------------------------------------------------- ASGI


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            upstream()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    headers = [(k, v) for k, v in scope["headers"] if k in FORWARD]

    async def wait_gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watch = HangUpWatch(wait_gone)
    answer: Answer | None = None
    try:
        answer = await upstream().open(scope["method"], scope["path"], headers, body)
        out = [(b"content-type", answer.content_type)]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        while (chunk := await answer.read_chunk()) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        watch.stop()
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not watch.absorb():
            raise
    finally:
        watch.stop()
        if answer is not None:
            await answer.aclose()


# ---------------------------------------------------------------- RSGI (granian)


async def rsgi_app(scope: Any, protocol: Any) -> None:
    if scope.proto != "http":
        return
    body = await protocol()
    headers = [
        (name.encode(), value.encode())
        for name, value in scope.headers.items()
        if name in FORWARD_TEXT
    ]
    watch = HangUpWatch(protocol.client_disconnect)
    answer: Answer | None = None
    try:
        answer = await upstream().open(scope.method, scope.path, headers, body)
        out = [("content-type", answer.content_type.decode())]
        transport = protocol.response_stream(answer.status, out)
        while (chunk := await answer.read_chunk()) is not None:
            await transport.send_bytes(chunk)
        watch.stop()
    except asyncio.CancelledError:
        if not watch.absorb():
            raise
    finally:
        watch.stop()
        if answer is not None:
            await answer.aclose()


rsgi = rsgi_app  # granian takes `module:rsgi`


# ---------------------------------------------------------------- direct (bench/ceiling_server.py)


async def direct_app(request: Any) -> None:
    """The same relay on ceiling_server's own interface: the server cancels this task when the
    client hangs up (no watch needed)."""
    body = await request.body()
    headers = [(k, v) for k, v in request.headers if k in FORWARD]
    answer = await upstream().open(request.method, request.path, headers, body)
    try:
        request.start(answer.status, [(b"content-type", answer.content_type)])
        while (chunk := await answer.read_chunk()) is not None:
            await request.send(chunk)
        await request.end()
    finally:
        await answer.aclose()


# ---------------------------------------------------------------- servers

HERE = os.path.dirname(os.path.abspath(__file__))


def serve_uvicorn(host: str, port: int, http: str = "httptools") -> None:
    import uvicorn

    uvicorn.run(
        "ceiling_proxy:asgi_app",
        host=host,
        port=port,
        app_dir=HERE,
        loop="uvloop",
        http=http,
        lifespan="on",
        access_log=False,
        log_level="warning",
    )


def serve_granian(host: str, port: int, interface: str) -> None:
    command = [
        os.path.join(os.path.dirname(sys.executable), "granian"),
        "--interface", interface,
        "--host", host,
        "--port", str(port),
        "--workers", "1",
        "--loop", "uvloop",
        "--http", "1",
        "--no-ws",
        "--log-level", "warning",
        "--no-access-log",
        "--working-dir", HERE,
        "ceiling_proxy:asgi_app" if interface == "asgi" else "ceiling_proxy:rsgi",
    ]
    os.execv(command[0], command)


def serve_socketify(host: str, port: int) -> None:
    from socketify import ASGI, AppListenOptions

    ASGI(asgi_app, lifespan=True).listen(AppListenOptions(port=port, host=host)).run()


def serve_own(host: str, port: int, interface: str) -> None:
    from ceiling_server import asgi_handler, serve

    serve(asgi_handler(asgi_app, (host, port)) if interface == "asgi" else direct_app, host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian-asgi", "granian-rsgi", "socketify", "own-asgi", "own-direct",
                 "zdr-bounded", "zdr-own"),
        default="uvicorn",
    )
    parser.add_argument(
        "--client",
        choices=("aiohttp", "pyreqwest", "httptools", "httptools-fastnet"),
        default="aiohttp",
    )
    parser.add_argument("--fastnet", action="store_true", help="patch the loop with aiofastnet")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    os.environ["CEILING_UPSTREAM"] = args.upstream
    os.environ["CEILING_CLIENT"] = args.client
    os.environ["CEILING_FASTNET"] = "1" if args.fastnet else "0"
    sys.path.insert(0, HERE)
    if args.server == "uvicorn":
        serve_uvicorn(args.host, args.port)
    elif args.server in ("zdr-bounded", "zdr-own"):  # the product's protocols (its venv)
        from zdr.gateway.server_protocol import protocol_named

        serve_uvicorn(args.host, args.port,
                      protocol_named("uvicorn" if args.server == "zdr-bounded" else "zdr"))
    elif args.server.startswith("own-"):
        serve_own(args.host, args.port, args.server.removeprefix("own-"))
    elif args.server == "socketify":
        serve_socketify(args.host, args.port)
    else:
        serve_granian(args.host, args.port, args.server.removeprefix("granian-"))


if __name__ == "__main__":
    main()
