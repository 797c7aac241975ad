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

import asyncio
import gc
import io
import sys
import threading
import time
from bisect import bisect_left
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
    "upstream_kind", "upstream_client", "workers", "host", "port", "error_type", "rules",
    "catalog_version", "pid",
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
    BoundLogger's per-call context copy is most of the cost of a line on the hot path).

    `exchange` writes the line every answered exchange gets in one pass: its keys are fixed and
    allow-listed (checked once, at import), so only its values are checked, each a scalar or a
    short string as `_allow_listed` requires; a value that is not goes through `_filtered`."""

    __slots__ = ("_writer",)

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def info(self, event: str, **fields: Any) -> None:
        fields["event"] = event
        line: Any = fields
        for processor in PROCESSORS:
            line = processor(None, "info", line)
        self._writer.msg(line)

    def exchange(self, *, request_id: str, org_id: str, workspace_id: str | None,
                 key_prefix: str, surface: str, status: int, outcome: str, retention: str,
                 zdr: str, model_class: str | None, stream: bool, input_tokens: int | None,
                 output_tokens: int | None, duration_ms: int | None,
                 ttfb_ms: int | None) -> None:
        event: dict[str, Any] = {
            "request_id": request_id, "org_id": org_id, "workspace_id": workspace_id,
            "key_prefix": key_prefix, "surface": surface, "status": status, "outcome": outcome,
            "retention": retention, "zdr": zdr, "model_class": model_class, "stream": stream,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "duration_ms": duration_ms, "ttfb_ms": ttfb_ms, "event": "exchange",
            "level": "info", "timestamp": _clock.stamp(),
        }
        for value in event.values():
            if not (type(value) in _SCALARS
                    or (type(value) is str and len(value) <= MAX_VALUE_CHARS)):
                event = dict(_filtered(event))
                break
        self._writer.msg(orjson.dumps(event).decode())


class LoggerAccessLog:
    """`AccessLog`'s interface over a structlog logger (an app given no log writer)."""

    __slots__ = ("_logger",)

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, event: str, **fields: Any) -> None:
        self._logger.info(event, **fields)

    def exchange(self, **fields: Any) -> None:
        self._logger.info("exchange", **fields)


_EXCHANGE_KEYS = frozenset(AccessLog.exchange.__annotations__) - {"return"} | {
    "event", "level", "timestamp"}
if not _EXCHANGE_KEYS <= ALLOWED_LOG_KEYS:      # a new key must be allow-listed first
    raise RuntimeError(f"keys not allow-listed: {sorted(_EXCHANGE_KEYS - ALLOWED_LOG_KEYS)}")


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


FLUSH_SECONDS = 0.5


def _bounds(histogram: Histogram) -> tuple[float, ...]:
    """A histogram's upper bounds, +Inf last (a value goes in the first bound >= it)."""
    return tuple(histogram._upper_bounds)    # the buckets it was made with


class _Tally:
    """One label set's requests since the last flush: a count, and each histogram's sum and
    per-bucket counts (not cumulative), added to the Prometheus children by `flush`."""

    __slots__ = ("count", "direct", "duration", "duration_buckets", "duration_sum", "requests",
                 "ttfb", "ttfb_buckets", "ttfb_sum")

    def __init__(self, requests: Any, duration: Any, ttfb: Any) -> None:
        self.requests, self.duration, self.ttfb = requests, duration, ttfb
        # Bulk updates need the children's per-bucket values; without them, observe each.
        self.direct = not (_bulk_capable(duration) and _bulk_capable(ttfb))
        self.count = 0
        self.duration_sum = self.ttfb_sum = 0.0
        self.duration_buckets = [0] * (len(duration._upper_bounds) if not self.direct else 0)
        self.ttfb_buckets = [0] * (len(ttfb._upper_bounds) if not self.direct else 0)

    def flush(self) -> None:
        self.requests.inc(self.count)
        self.count = 0
        for child, buckets, total in ((self.duration, self.duration_buckets, self.duration_sum),
                                      (self.ttfb, self.ttfb_buckets, self.ttfb_sum)):
            if any(buckets):
                child._sum.inc(total)
                for index, count in enumerate(buckets):
                    if count:
                        child._buckets[index].inc(count)
                        buckets[index] = 0
        self.duration_sum = self.ttfb_sum = 0.0


def _bulk_capable(child: Any) -> bool:
    buckets = getattr(child, "_buckets", None)
    return (isinstance(buckets, list) and hasattr(child, "_sum")
            and len(buckets) == len(getattr(child, "_upper_bounds", ())))


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
        self._tallies: dict[tuple[str, str, str, int], _Tally] = {}
        self._duration_bounds = _bounds(self.duration)
        self._ttfb_bounds = _bounds(self.ttfb)
        self._flush_due = False

    def track_write_queue(self, depth: Callable[[], int]) -> None:
        """Export the store's queue of writes not yet committed: how far the store lags."""
        Gauge("zdr_store_write_queue_depth", "Store writes queued and not yet committed (metadata, "
              "content, classifier results): how far the store lags behind the traffic.",
              registry=self.registry).set_function(depth)

    def observe(self, surface: str, outcome: str, retention: str, status: int, seconds: float,
                ttfb: float | None) -> None:
        """One answered request, tallied in plain numbers and added to the Prometheus metrics
        later in bulk (and before every `render`): five locked Prometheus updates per request
        (each a write to a shared file with several workers) cost more than the tally. In one
        process at most `FLUSH_SECONDS` later; with several worker processes
        (`multiprocess_dir`) at the end of this turn of the event loop, before it reads the next
        request, since another worker may answer the next scrape."""
        key = (surface, outcome, retention, status // 100)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tally(key, status)
        if tally.direct:
            tally.requests.inc()
            tally.duration.observe(seconds)
            if ttfb is not None:
                tally.ttfb.observe(ttfb)
            return
        tally.count += 1
        tally.duration_sum += seconds
        tally.duration_buckets[bisect_left(self._duration_bounds, seconds)] += 1
        if ttfb is not None:
            tally.ttfb_sum += ttfb
            tally.ttfb_buckets[bisect_left(self._ttfb_bounds, ttfb)] += 1
        if not self._flush_due:
            self._schedule_flush()

    def flush(self) -> None:
        """Add what was tallied since the last flush to the Prometheus metrics."""
        self._flush_due = False
        for tally in self._tallies.values():
            if tally.count:
                tally.flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:        # no event loop here: nothing would flush later
            self.flush()
            return
        self._flush_due = True
        if self.multiprocess_dir is None:
            loop.call_later(FLUSH_SECONDS, self.flush)
        else:
            loop.call_soon(self.flush)

    def _tally(self, key: tuple[str, str, str, int], status: int) -> _Tally:
        surface, outcome, retention, _ = key
        tally = _Tally(
            self.requests.labels(surface, outcome, retention, f"{status // 100}xx"),
            self.duration.labels(surface, outcome),
            self.ttfb.labels(surface),
        )
        self._tallies[key] = tally
        return tally

    def render(self) -> bytes:
        self.flush()
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
