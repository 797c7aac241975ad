"""The fuzz target: the gateway app in-process (`zdr.wiring.build_app`, in-memory twins) on one
event loop, a strict stand-in upstream, and keys for a ZDR, a standard, a HIPAA and an enterprise
org."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgi_driver import Answer, call
from strict_upstream import StrictUpstream

from zdr.gateway.app import GatewayApp
from zdr.inmemory import InMemorySink, RecordingSafetyQueue
from zdr.testing.logcapture import CapturedLines

MAX_BODY = 64 * 1024


@dataclass(repr=False)
class FuzzGateway:
    app: GatewayApp
    loop: asyncio.AbstractEventLoop
    sink: InMemorySink
    safety: RecordingSafetyQueue
    logs: CapturedLines
    upstream: StrictUpstream
    keys: dict[str, str]
    home: Path

    def __repr__(self) -> str:
        return "FuzzGateway()"

    def request(self, method: str, path: str, headers: list[tuple[bytes, bytes]],
                chunks: list[bytes] | tuple[bytes, ...] = (), query: bytes = b"") -> Answer:
        return self.loop.run_until_complete(
            asyncio.wait_for(call(self.app, method, path, headers, chunks, query), 20))

    def kept_content(self) -> list[Any]:
        return list(self.sink.retained)
