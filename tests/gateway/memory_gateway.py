"""The gateway app built around the in-memory upstream, driven without sockets (`asgi_exchange`):
the `world` fixture of tests/gateway/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from asgi_exchange import Answer, exchange

from zdr.gateway.app import GatewayApp
from zdr.gateway.upstream_memory import CannedReply, MemoryUpstream, SentRequest
from zdr.inmemory import (
    InMemoryDirectory,
    InMemoryResourceOwners,
    InMemorySink,
    RecordingSafetyQueue,
)
from zdr.settings import load_settings
from zdr.testing.logcapture import CapturedLines
from zdr.wiring import build_app

MODEL = "claude-sonnet-5"
MSG = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
           "content": [{"type": "text", "text": "Hi there"}], "stop_reason": "end_turn",
           "usage": {"input_tokens": 11, "output_tokens": 3}}


@dataclass
class World:
    app: GatewayApp
    upstream: MemoryUpstream
    directory: InMemoryDirectory
    sink: InMemorySink
    owners: InMemoryResourceOwners
    safety: RecordingSafetyQueue
    logs: CapturedLines

    def answer(self, reply: CannedReply) -> None:
        """Every request from now on gets `reply`."""
        self.upstream.handler = lambda _request: reply

    def key(self, name: str, **arrangements: Any) -> str:
        return self.directory.create_key(name, **arrangements)[0]

    async def post(self, key: str, body: Any = MSG, target: bytes = b"/v1/messages",
                   method: str = "POST", **kwargs: Any) -> Answer:
        """One request with `key` (`body`: a JSON value, raw bytes, or None for no body)."""
        headers = {"x-api-key": key, "content-type": "application/json",
                   **kwargs.pop("headers", {})}
        raw = body if isinstance(body, bytes) else orjson.dumps(body) if body is not None \
            else b""
        return await exchange(self.app, method, target, headers, raw, **kwargs)

    @property
    def sent(self) -> SentRequest:
        """The last request the upstream received."""
        return self.upstream.requests[-1]


def memory_world(home: Path) -> World:
    """A gateway on in-memory ports whose upstream answers every request with `MESSAGE`."""
    upstream = MemoryUpstream(lambda _request: CannedReply.json(MESSAGE))
    directory, sink, owners = InMemoryDirectory(), InMemorySink(), InMemoryResourceOwners()
    safety, logs = RecordingSafetyQueue(), CapturedLines()
    settings = load_settings(env={}, home=home)
    app = build_app(settings, directory=directory, sink=sink, safety=safety, resources=owners,
                    use_store=False, log_writer=logs, upstream=upstream)
    return World(app, upstream, directory, sink, owners, safety, logs)
