"""The module-scoped `fuzz_gateway` fixture (see gateway_under_fuzz)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from gateway_under_fuzz import MAX_BODY, FuzzGateway
from strict_upstream import StrictUpstream

from zdr.inmemory import InMemoryDirectory, InMemorySink, RecordingSafetyQueue
from zdr.settings import load_settings
from zdr.testing.logcapture import CapturedLines
from zdr.wiring import build_app


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzGateway]:
    home = tmp_path_factory.mktemp("fuzz-home")
    with StrictUpstream() as upstream:
        settings = load_settings(env={}, home=home, upstream_url=upstream.url,
                                 max_body_bytes=MAX_BODY, upstream_timeout_seconds=10)
        directory, sink = InMemoryDirectory(), InMemorySink()
        safety, logs = RecordingSafetyQueue(), CapturedLines()
        keys = {
            "zdr": directory.create_key("fuzz-zdr", zdr=True)[0],
            "standard": directory.create_key("fuzz-standard")[0],
            "hipaa": directory.create_key("fuzz-hipaa", hipaa=True)[0],
            "enterprise": directory.create_key("fuzz-enterprise", plan="enterprise",
                                               retention_days=90)[0],
        }
        app = build_app(settings, directory=directory, sink=sink, safety=safety,
                        log_writer=logs, use_store=False)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(app.relay.start())
        try:
            yield FuzzGateway(app, loop, sink, safety, logs, upstream, keys, home)
        finally:
            loop.run_until_complete(app.relay.close())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
