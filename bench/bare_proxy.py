"""A bare pass-through proxy on the gateway's own stack: raw ASGI on uvicorn (uvloop, httptools),
aiohttp's client upstream, bodies and SSE streams relayed chunk by chunk. No auth, no policy, no
store: the ceiling zdr-gateway is measured against ("≥ 70 % of a bare pass-through").

    .venv/bin/python bench/bare_proxy.py --port 9100 --upstream http://127.0.0.1:8788 [--workers N]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import aiohttp
import uvicorn

UPSTREAM = os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:8788")
FORWARD = (b"content-type", b"anthropic-version", b"anthropic-beta", b"x-api-key", b"accept")
_session: aiohttp.ClientSession | None = None


async def _client() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        _session = aiohttp.ClientSession(
            UPSTREAM,
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=600),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
    return _session


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
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
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in FORWARD}
    session = await _client()
    async with session.request(
        scope["method"], scope["path"], data=body, headers=headers
    ) as upstream:
        out = [(b"content-type", upstream.headers.get("content-type", "application/json").encode())]
        await send({"type": "http.response.start", "status": upstream.status, "headers": out})
        async for chunk in upstream.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ["BARE_PROXY_UPSTREAM"] = args.upstream
    uvicorn.run(
        "bare_proxy:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
