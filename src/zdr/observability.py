"""Logs and metrics that cannot carry content.

Logs: structlog, one JSON object per line, to the log file and standard error. The last step
before rendering drops every key that is not in `ALLOWED_LOG_KEYS` and every value that is not a
short scalar, so message text cannot be logged even by a careless call.

Metrics: Prometheus, labelled only from closed sets (surface, outcome, retention label, status
class) — never a model name, a key, or anything read from a request. With several worker
processes (`zdr serve --workers N`) counters and histograms are kept in prometheus-client's
multiprocess files (`PROMETHEUS_MULTIPROC_DIR`, a private folder `zdr serve` makes afresh), so
whichever worker answers `/metrics` reports the whole instance; gauges (requests in flight,
queues, the garbage collector) are those of the worker that answers.
"""

from __future__ import annotations

import gc
import io
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

ALLOWED_LOG_KEYS = frozenset({
    "event", "timestamp", "level", "request_id", "org_id", "workspace_id", "key_prefix",
    "surface", "route", "method", "status", "outcome", "retention", "zdr", "model_class",
    "stream", "input_tokens", "output_tokens", "duration_ms", "ttfb_ms", "upstream",
    "upstream_kind", "workers", "host", "port", "error_type", "rules", "catalog_version", "pid",
    "dropped_keys", "in_flight", "location",
})
MAX_VALUE_CHARS = 120
OUTCOMES = ("ok", "rejected", "upstream_error", "timeout", "client_disconnected", "bad_request",
            "unauthenticated", "not_found", "store_unavailable")


_SCALARS = (int, float, bool, type(None))


def _allow_listed(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop every key not in the allow-list and every value that is not a short scalar."""
    for key, value in event.items():
        if key not in ALLOWED_LOG_KEYS or not (
            type(value) in _SCALARS or (type(value) is str and len(value) <= MAX_VALUE_CHARS)
        ):
            return _filtered(event)
    return event


def _filtered(event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    dropped = 0
    for key in list(event):
        value = event[key]
        if key not in ALLOWED_LOG_KEYS:
            del event[key]
            dropped += 1
        elif isinstance(value, str):
            if len(value) > MAX_VALUE_CHARS:
                event[key] = value[:MAX_VALUE_CHARS]
        elif isinstance(value, tuple | list):
            event[key] = [str(v)[:MAX_VALUE_CHARS] for v in value[:20] if isinstance(v, str)]
        elif not isinstance(value, _SCALARS):
            del event[key]
            dropped += 1
    if dropped:
        event["dropped_keys"] = dropped
    return event


class _Clock:
    """ISO-8601 UTC timestamps, formatting the seconds part once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"


_clock = _Clock()


def _stamped(_: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["level"] = method
    event["timestamp"] = _clock.stamp()
    return event


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    return orjson.dumps(event).decode()


PROCESSORS = (_stamped, _allow_listed, _render)


class AccessLog:
    """The per-exchange log line: the same processors as `make_logger`'s, run directly (the
    BoundLogger's per-call context copy is most of the cost of a line on the hot path)."""

    __slots__ = ("_writer",)

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def info(self, event: str, **fields: Any) -> None:
        fields["event"] = event
        line: Any = fields
        for processor in PROCESSORS:
            line = processor(None, "info", line)
        self._writer.msg(line)


class LineWriter:
    """Writes each rendered line to every stream (the log file and standard error).

    Streams are flushed at most every `flush_interval` seconds (and by `flush()`, which the app
    calls on a timer and at shutdown): one flush per request line costs the hot path dearly.
    """

    def __init__(self, streams: list[TextIO], flush_interval: float = 0.5) -> None:
        self._streams = streams
        self._lock = threading.Lock()
        self._interval = flush_interval
        self._flushed = time.monotonic()

    def msg(self, message: str) -> None:
        line = message + "\n"
        with self._lock:
            for stream in self._streams:
                stream.write(line)
            now = time.monotonic()
            if now - self._flushed >= self._interval:
                self._flush(now)

    info = debug = warning = error = critical = msg

    def flush(self) -> None:
        with self._lock:
            self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        self._flushed = now
        for stream in self._streams:
            stream.flush()

    def close(self) -> None:
        self.flush()
        for stream in self._streams:
            if stream not in (sys.stderr, sys.stdout):
                stream.close()   # a wrapper of fd 2 leaves the descriptor open (closefd=False)


def make_logger(writer: Any) -> Any:
    """A structlog logger through the allow-list, rendering JSON to `writer` (has `.msg(str)`)."""
    return structlog.wrap_logger(writer, processors=list(PROCESSORS),
                                 wrapper_class=structlog.BoundLogger)


LOG_BUFFER = 1 << 20


def file_and_stderr_writer(log_file: Path, *, stderr: bool = True) -> LineWriter:
    """The log file and standard error, both block-buffered and flushed by `LineWriter`.

    Buffered on purpose: each write syscall releases the GIL, and a thread holding it (the
    store's writer) can then keep the event loop waiting for a whole switch interval (5 ms).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    streams: list[TextIO] = [log_file.open("a", encoding="utf-8", buffering=LOG_BUFFER)]
    if stderr:
        raw = io.FileIO(sys.stderr.fileno(), "w", closefd=False)
        streams.append(io.TextIOWrapper(io.BufferedWriter(raw, LOG_BUFFER), encoding="utf-8"))
    return LineWriter(streams)


class _Families(Collector):
    """Metric families already collected, for `generate_latest`."""

    def __init__(self, families: Iterable[Any]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Any]:
        return iter(self._families)


class GatewayMetrics:
    """The gateway's Prometheus metrics, in a registry of its own (one per app). With
    `multiprocess_dir` (set when prometheus-client runs in multiprocess mode: the
    `PROMETHEUS_MULTIPROC_DIR` of `zdr serve --workers N`), `render` sums every worker's counters
    and histograms, the killed ones' included (a counter never goes back)."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 multiprocess_dir: Path | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.multiprocess_dir = multiprocess_dir
        self.requests = Counter(
            "zdr_gateway_requests", "Requests answered by surface, outcome, retention, status.",
            ("surface", "outcome", "retention", "status_class"), registry=self.registry,
        )
        self.duration = Histogram(
            "zdr_gateway_request_duration_seconds", "Time from request to last byte.",
            ("surface", "outcome"), registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                     60),
        )
        self.ttfb = Histogram(
            "zdr_gateway_ttfb_seconds", "Time from request to the first byte of the response.",
            ("surface",), registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
        )
        self.in_flight = Gauge("zdr_gateway_in_flight", "Requests being served.",
                               registry=self.registry)
        self.in_flight_count = 0
        self.in_flight.set_function(lambda: self.in_flight_count)
        # Collections per generation (python_gc_*), and what `zdr.gateway.heap.settle` froze.
        GCCollector(registry=self.registry)
        Gauge("zdr_gc_frozen_objects", "Objects in the permanent generation (frozen after "
              "start-up, never walked by a collection).",
              registry=self.registry).set_function(gc.get_freeze_count)
        self._children: dict[tuple[str, str, str, int], tuple[Any, Any, Any]] = {}

    def track_write_queue(self, depth: Callable[[], int]) -> None:
        """Export the store's queue of writes not yet committed: how far the store lags."""
        Gauge("zdr_store_write_queue_depth", "Store writes queued and not yet committed (metadata, "
              "content, classifier results): how far the store lags behind the traffic.",
              registry=self.registry).set_function(depth)

    def observe(self, surface: str, outcome: str, retention: str, status: int, seconds: float,
                ttfb: float | None) -> None:
        key = (surface, outcome, retention, status // 100)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(surface, outcome, retention, f"{status // 100}xx"),
                self.duration.labels(surface, outcome),
                self.ttfb.labels(surface),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if ttfb is not None:
            children[2].observe(ttfb)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        # Every worker's counters and histograms from the shared files; this worker's gauges
        # (a gauge's file keeps the last value of a worker long dead) and its own collectors.
        files = MultiProcessCollector(None, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        shared = [family for family in files.collect()  # type: ignore[no-untyped-call]
                  if family.type != "gauge"]
        names = {family.name for family in shared}
        own = [family for family in self.registry.collect() if family.name not in names]
        return generate_latest(_Families(shared + own))
