"""A gateway on a free loopback port with in-memory ports, for tests (ours and users').

    with StubThread() as stub, GatewayHarness(tmp_path, stub.url) as gw:
        secret, _ = gw.directory.create_key("acme", zdr=True)
        anthropic.Anthropic(api_key=secret, base_url=gw.url).messages.create(...)
        assert gw.sink.metadata[-1].outcome == "ok"
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Self

from zdr.gateway.app import GatewayApp
from zdr.inmemory import (
    InMemoryDirectory,
    InMemorySafetySink,
    InMemorySink,
    RecordingSafetyQueue,
)
from zdr.observability import LineWriter, make_logger
from zdr.ports import ExchangeSink, SafetySink
from zdr.safety.classifier import Classifier
from zdr.safety.pipeline import SafetyPipeline
from zdr.settings import load_settings
from zdr.testing.logcapture import CapturedLines
from zdr.testing.servers import UvicornThread
from zdr.wiring import build_app


class _Tee:
    def __init__(self, *writers: Any) -> None:
        self._writers = writers

    def msg(self, message: str) -> None:
        for writer in self._writers:
            writer.msg(message)

    info = debug = warning = error = critical = msg


class GatewayHarness:
    """With `use_store=True` the SQL store of `home` (directory and sink) is used, as `zdr serve`
    uses it; otherwise in-memory twins that tests can inspect.

    The classifier's queue is a `RecordingSafetyQueue` (what it would see), unless `classifier`
    is given: then a `SafetyPipeline` runs it in a thread and writes to `safety_sink` (the
    given `SafetySink`, else an `InMemorySafetySink`) — classifier results and flagged content
    as the store would get them."""

    def __init__(
        self, home: Path, upstream_url: str, *, sink: ExchangeSink | None = None,
        use_store: bool = False, classifier: Classifier | None = None,
        safety_sink: SafetySink | None = None, **settings: Any,
    ) -> None:
        self.settings = load_settings(env={}, home=home, upstream_url=upstream_url, **settings)
        self.directory: Any = None if use_store else InMemoryDirectory()
        self.sink: Any = sink if sink is not None or use_store else InMemorySink()
        self.safety: Any = RecordingSafetyQueue()
        self.safety_sink: Any = None
        self.logs = CapturedLines()
        log_file = self.settings.log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._file = LineWriter([log_file.open("a", encoding="utf-8")])
        starts: list[Any] = []
        stops: list[Any] = []
        if classifier is not None:
            self.safety_sink = safety_sink if safety_sink is not None else InMemorySafetySink()
            self.safety = SafetyPipeline(classifier, self.safety_sink,
                                         logger=make_logger(_Tee(self.logs, self._file)))
            starts, stops = [self.safety.start], [self.safety.stop]
        self.app: GatewayApp = build_app(
            self.settings, directory=self.directory, sink=self.sink, safety=self.safety,
            log_writer=_Tee(self.logs, self._file), use_store=use_store,
            on_startup=starts, on_shutdown=stops,
        )
        if use_store:
            self.directory = self.app.principals.directory
            self.sink = self.app.sink
        self.server = UvicornThread(self.app)
        self.url = self.server.url
        self.port = self.server.port

    def __enter__(self) -> Self:
        self.server.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None,
                                   TracebackType | None]) -> None:
        self.close()

    def close(self) -> None:
        self.server.close()
        self._file.close()
