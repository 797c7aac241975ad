"""Traces (zdr.tracing): one span per exchange with what the decision and the relay measured, and
nothing a client wrote. A ZDR org sends canaries in every place a request can carry them — the
messages, the system prompt, the model name, a tool's name, metadata, headers, the path, a body
that is not JSON — and no span attribute, name, status, event or resource holds one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from zdr.inmemory import InMemoryDirectory, InMemorySink, RecordingSafetyQueue
from zdr.settings import load_settings
from zdr.testing.canaries import new_canary
from zdr.testing.logcapture import CapturedLines
from zdr.testing.servers import StubThread, UvicornThread
from zdr.tracing import tracer_from_settings
from zdr.wiring import build_app


class Traced:
    def __init__(self, home: Path, upstream: str) -> None:
        self.exporter = InMemorySpanExporter()
        self.directory = InMemoryDirectory()
        app = build_app(load_settings(env={}, home=home, upstream_url=upstream),
                        directory=self.directory, sink=InMemorySink(),
                        safety=RecordingSafetyQueue(), log_writer=CapturedLines(),
                        span_exporter=self.exporter)
        self.server = UvicornThread(app)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    with StubThread() as stub:
        world = Traced(tmp_path_factory.mktemp("traced"), stub.url)
        with world.server:
            yield world


def everything_in(span: Any) -> str:
    """Every string a span exports: name, attributes, status, events, links, resource."""
    parts: list[Any] = [span.name, dict(span.attributes), span.status.description,
                        [(e.name, dict(e.attributes)) for e in span.events],
                        [dict(link.attributes or {}) for link in span.links],
                        dict(span.resource.attributes)]
    return json.dumps(parts, default=str)


def test_zdr_canaries_reach_no_span(traced: Traced) -> None:
    key, _ = traced.directory.create_key("traced-zdr", zdr=True)
    canaries: list[str] = []

    def canary(label: str) -> str:
        canaries.append(new_canary(label))
        return canaries[-1]

    headers = {"x-api-key": key, "anthropic-version": "2023-06-01",
               "user-agent": canary("UA"), "anthropic-beta": canary("BETA").lower(),
               "x-stub-output": canary("OUT")}
    requests: list[tuple[str, str, Any]] = [
        ("POST", "/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 16,
                                  "system": canary("SYS"),
                                  "metadata": {"user_id": canary("USER")},
                                  "messages": [{"role": "user", "content": canary("IN")}]}),
        ("POST", "/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 16,
                                  "stream": True,
                                  "messages": [{"role": "user", "content": canary("STREAM")}]}),
        ("POST", "/v1/messages", {"model": canary("MODEL"), "max_tokens": 16,
                                  "messages": [{"role": "user", "content": "hi"}]}),
        ("POST", "/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 16,
                                  "tools": [{"name": canary("TOOL"), "input_schema": {
                                      "type": "object"}}],
                                  "messages": [{"role": "user", "content": "hi"}]}),
        ("POST", "/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": [
            {"role": "user", "content": canary("COUNT")}]}),
        ("GET", f"/v1/models/{canary('PATH')}", None),
        ("POST", "/v1/messages", canary("NOTJSON")),
    ]
    base = traced.server.url
    with httpx.Client(base_url=base, timeout=20) as client:
        for method, path, body in requests:
            content = body.encode() if isinstance(body, str) else None
            client.request(method, path, headers=headers, content=content,
                           json=None if content is not None else body)
        failing = dict(headers, **{"x-stub-fail-mid-stream": "1", "x-stub-chunks": "2"})
        client.post("/v1/messages", headers=failing, json={
            "model": "claude-sonnet-4-5", "max_tokens": 16, "stream": True,
            "messages": [{"role": "user", "content": canary("FAIL")}]})
    spans = traced.exporter.get_finished_spans()
    assert len(spans) == len(requests) + 1
    exported = "\n".join(everything_in(span) for span in spans)
    for value in canaries:
        assert value not in exported and value.lower() not in exported.lower()
    first = spans[0]
    assert first.name == "zdr messages"
    assert first.attributes["zdr.retention"] == "zero"
    assert first.attributes["zdr.state"] == "applied"
    assert "scope.zdr_in_force" in first.attributes["zdr.rules"]
    assert first.attributes["zdr.upstream.ttfb_ms"] >= 0
    assert first.attributes["zdr.model_class"] == "standard"
    assert dict(first.resource.attributes)["service.name"] == "zdr-gateway"
    assert not first.events


def test_traces_are_off_unless_an_endpoint_is_set(tmp_path: Path) -> None:
    assert tracer_from_settings(load_settings(env={}, home=tmp_path)) is None
    on = load_settings(env={"ZDR_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
                       home=tmp_path)
    tracer = tracer_from_settings(on)
    assert tracer is not None
    tracer.provider.shutdown()
