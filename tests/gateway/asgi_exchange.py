"""Drives the gateway's ASGI app in-process, as uvicorn would: no socket, no server thread.

`exchange(app, "POST", b"/v1/messages?beta=true", headers, body)` sends one request and returns
what the client received: the status, the headers and every body chunk as it was sent. With
`hang_up_after=N` the client hangs up once N body chunks have arrived: `receive()` then answers
`http.disconnect`, and later writes are dropped, as uvicorn drops writes to a closed connection.
`on_chunk` sees each body chunk as the gateway sends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Answer:
    status: int = 0
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)   # non-empty body chunks, as sent
    complete: bool = False                              # the last body message was sent
    sends: list[tuple[bytes, bool]] = field(default_factory=list)  # (body, more_body) each

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.raw_headers}

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return orjson.loads(self.body)


async def exchange(app: Any, method: str, target: bytes, headers: Mapping[str, str],
                   body: bytes = b"", *, hang_up_after: int | None = None,
                   on_chunk: Callable[[bytes], None] | None = None) -> Answer:
    path, _, query = target.partition(b"?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path.decode("latin-1"), "raw_path": path,
        "query_string": query, "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8787),
    }
    answer = Answer()
    gone = asyncio.Event()      # the response is complete, or the client hung up
    requested = False
    waiting = 0

    async def receive() -> dict[str, Any]:
        nonlocal requested, waiting
        if not requested:
            requested = True
            if hang_up_after == 0:
                gone.set()
            return {"type": "http.request", "body": body, "more_body": False}
        waiting += 1
        try:
            await gone.wait()
        finally:
            waiting -= 1
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if gone.is_set():
            return                              # dropped: the client is gone
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.raw_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.sends.append((message.get("body", b""), message.get("more_body", False)))
            if message.get("body"):
                answer.chunks.append(message["body"])
                if on_chunk is not None:
                    on_chunk(message["body"])
            if not message.get("more_body", False):
                answer.complete = True
                gone.set()
            elif hang_up_after is not None and len(answer.chunks) >= hang_up_after:
                gone.set()

    await app(scope, receive, send)
    gone.set()
    while waiting:                  # let the gateway's disconnect watch see the end
        await asyncio.sleep(0)
    return answer
