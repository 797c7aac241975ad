"""Builds the gateway from `Settings`: picks the real ports (SQL store) or their in-memory twins.

`build_app(settings)` is what `zdr serve` runs (through `app_factory`, once per worker process).
Tests pass their own `directory`, `sink`, `safety` and `clock`. The SQL store is imported lazily.
A home with neither a store nor a master key (before `zdr init`) runs on empty in-memory twins,
and says so in its start-up log; once either exists, a store or master key that cannot be opened
(missing, malformed, readable by others) makes `build_app` raise: the gateway fails closed rather
than serve real traffic on in-memory ports.

With the SQL store's sink in use (and no `safety` given) the safety pipeline
(`zdr.safety.pipeline`) classifies every exchange whose decision keeps a classifier result; it is
built at start-up (its classifier's child process takes seconds to spawn) and stopped at shutdown
before the sink closes, so its last results are still written.
"""

from __future__ import annotations

import asyncio
import importlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zdr.catalog import default_catalog, load_catalog
from zdr.end_users import EndUsers
from zdr.gateway import heap, server_protocol
from zdr.gateway.app import GatewayApp
from zdr.gateway.asgi import ASGIApp
from zdr.gateway.boundary import ErrorBoundary
from zdr.gateway.header_limits import HeaderLimits
from zdr.gateway.metrics_access import MetricsAccess, MetricsListener
from zdr.gateway.pseudonyms import Pseudonyms
from zdr.gateway.relay import Relay
from zdr.gateway.responses import new_request_id, send_error
from zdr.gateway.upstream_aiohttp import AiohttpUpstream
from zdr.hardening import harden_process
from zdr.observability import GatewayMetrics, file_and_stderr_writer, make_logger
from zdr.ports import Clock, Directory, ExchangeSink, ResourceOwners, SafetyQueue, Upstream
from zdr.settings import Settings, load_settings
from zdr.testing.memory import (
    InMemoryDirectory,
    InMemoryResourceOwners,
    InMemorySink,
    NullSafetyQueue,
    SystemClock,
)

STUB_PROVIDER_KEY = "stand-in-upstream-key"
CONTROL_PREFIXES = ("/admin/", "/console/", "/.well-known/zdr/")
Hook = Callable[[], Awaitable[None]]


@dataclass
class StorePorts:
    directory: Directory | None = None
    sink: ExchangeSink | None = None
    safety: SafetyQueue | None = None
    control: ASGIApp | None = None
    resources: ResourceOwners | None = None
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    description: str = "in-memory (no SQL store)"
    write_queue_depth: Callable[[], int] | None = None
    changes: Any = None         # zdr.store.changes.ChangeListener (PostgreSQL)
    identifier_keys: Callable[[str], bytes] | None = None   # each org's pseudonym key
    end_user_key: bytes | None = None       # keyed hashes of metadata.user_id (master key)


def sql_ports(settings: Settings) -> StorePorts:
    """The SQL store's directory and sink, if the store package provides them; else nothing."""
    ports = StorePorts()
    try:
        db = importlib.import_module("zdr.store.db")
        crypto = importlib.import_module("zdr.store.crypto")
        exchanges = importlib.import_module("zdr.store.exchanges")
    except ImportError:
        return ports
    if not (settings.master_key or settings.key_file.exists() or store_exists(settings)):
        return StorePorts(description="in-memory (no store and no master key: run `zdr init`)")
    # From here on a store or a key is configured: one that cannot be opened stops the start
    # (MasterKeyError and the like propagate), never a quiet fall-back to in-memory ports.
    master_key = crypto.load_master_key(settings)
    engine = db.engine_for(settings.database_url)
    keyring = crypto.Keyring(engine, master_key)
    ports.identifier_keys = keyring.identifier_key      # from each org's data key
    ports.end_user_key = crypto.derived_key(master_key, "end-users")
    sink = exchanges.SqlExchangeSink(engine, keyring, capacity=settings.write_queue)

    async def start_sink() -> None:
        sink.start()

    async def close_sink() -> None:
        await sink.flush()
        await asyncio.to_thread(sink.close)

    ports.sink = sink
    ports.write_queue_depth = lambda: sink.writer.depth
    ports.on_startup.append(start_sink)
    ports.on_shutdown.append(close_sink)
    _add_sweeper(ports, engine, keyring, settings)
    ports.resources = importlib.import_module("zdr.store.resources").SqlResourceOwners(engine)
    ports.description = f"sql ({engine.url.get_backend_name()})"
    try:
        directory_module = importlib.import_module("zdr.store.directory")
    except ImportError:
        ports.description += ", no SQL directory yet: no key is accepted"
        return ports
    ports.directory = directory_module.SqlDirectory(engine)
    ports.control = control_plane_app(settings, engine)
    if engine.dialect.name == "postgresql":     # arrangement changes from any process, at once
        ports.changes = importlib.import_module("zdr.store.changes").ChangeListener(
            settings.database_url)
        ports.on_startup.append(ports.changes.start)
        ports.on_shutdown.append(ports.changes.stop)
    return ports


def store_exists(settings: Settings) -> bool:
    """Whether the configured store is there to open: any server URL, or an existing SQLite
    file (`zdr init` creates it; without it the gateway runs on in-memory ports)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return True
    return bool(url.database) and Path(str(url.database)).exists()


def _add_sweeper(ports: StorePorts, engine: Any, keyring: Any, settings: Settings) -> None:
    """The store's purge sweeper runs in the background while the gateway serves (on SQLite only
    one worker process sweeps: the home's purge.lock, zdr.store.sweep_lock; on PostgreSQL one
    purge at a time of all instances: an advisory lock). `purge_interval_seconds` 0: none here
    (a separate `zdr purge` timer sweeps, deploy/systemd/zdr-sweeper.timer)."""
    from zdr.store.sweeper import PurgeSweeper

    if settings.purge_interval_seconds <= 0:
        return

    catalog = load_catalog(settings.catalog_path) if settings.catalog_path else default_catalog()
    sweeper = PurgeSweeper.from_settings(engine, keyring, settings, catalog,
                                         on_erased=erasure_receipts(settings, engine))

    async def start_sweeper() -> None:
        sweeper.start()

    async def stop_sweeper() -> None:
        await asyncio.to_thread(sweeper.stop)

    ports.on_startup.append(start_sweeper)
    ports.on_shutdown.append(stop_sweeper)


def erasure_receipts(settings: Settings, engine: Any) -> Callable[[Any], None]:
    """What the sweeper calls for each org it erased: issue its signed receipt."""
    from zdr.control.plane import build_control_plane

    def issue(report: Any) -> None:
        build_control_plane(settings, engine).evidence.org_erasure_receipt(report)

    return issue


def control_plane_app(settings: Settings, engine: Any = None) -> ASGIApp:
    """What the gateway hands every path it does not serve: the admin API at `/admin/v1/…`
    (paths unchanged), the web console at `/console`, and a 404 in the API's format otherwise."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from zdr.console import build_console_app
    from zdr.control.api import build_admin_app
    from zdr.control.plane import build_control_plane

    plane = build_control_plane(settings, engine)
    admin = build_admin_app(lambda: plane)
    console = build_console_app(plane, settings)
    router = Starlette(routes=[Mount("/admin", app=_unprefixed(admin, "/admin")),
                               Mount("/console", app=console),
                               attestation_key_route(plane)])

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith(CONTROL_PREFIXES) \
                and path != "/console":
            await send_error(send, 404, "not_found_error", "Not found.", new_request_id(), "none")
            return
        await router(scope, receive, send)

    return dispatch


def attestation_key_route(plane: Any) -> Any:
    """`GET /.well-known/zdr/attestation-key`: every public key the deployment signs (and has
    signed) statements, receipts and audit checkpoints with — public, no token."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def keys(_request: Request) -> JSONResponse:
        listed = await run_in_threadpool(plane.evidence.public_keys)
        return JSONResponse([key.as_json() for key in listed],
                            headers={"cache-control": "public, max-age=300"})

    return Route("/.well-known/zdr/attestation-key", keys, methods=["GET"])


def _unprefixed(app: ASGIApp, prefix: str) -> ASGIApp:
    """Undo a Mount's path split: the admin app's routes carry their full prefix."""

    async def call(scope: Any, receive: Any, send: Any) -> None:
        scope = dict(scope)
        root = scope.get("root_path", "")
        if root.endswith(prefix):
            scope["root_path"] = root[: -len(prefix)]
        await app(scope, receive, send)

    return call


def build_app(
    settings: Settings,
    *,
    directory: Directory | None = None,
    sink: ExchangeSink | None = None,
    safety: SafetyQueue | None = None,
    clock: Clock | None = None,
    log_writer: Any = None,
    fallback: ASGIApp | None = None,
    use_store: bool | None = None,
    resources: ResourceOwners | None = None,
    server_process: bool = False,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    span_exporter: Any = None,
    upstream: Upstream | None = None,
) -> GatewayApp:
    """The gateway app. Ports not given come from the SQL store (when `use_store` is not False
    and the store is available), else from the in-memory twins. `server_process`: the app owns
    its process (a `zdr serve` worker), so it may tune the process's garbage collector.
    `on_startup` hooks run after the store's (e.g. a test's own safety pipeline), `on_shutdown`
    hooks before the store closes. `upstream`: what requests are relayed through (by default
    aiohttp to the settings' upstream URL; tests pass `zdr.gateway.upstream_memory`'s twin)."""
    catalog = load_catalog(settings.catalog_path) if settings.catalog_path else default_catalog()
    store = StorePorts()
    if use_store is None:
        use_store = directory is None or sink is None
    if use_store:
        store = sql_ports(settings)
    writer = log_writer if log_writer is not None else file_and_stderr_writer(settings.log_file)
    logger = make_logger(writer)
    stub = settings.uses_stub_upstream
    relay = Relay(
        upstream or AiohttpUpstream(settings.effective_upstream_url,
                                    read_timeout=settings.upstream_timeout_seconds),
        settings.provider_api_key or STUB_PROVIDER_KEY,
        forward_knobs=settings.provider_api_key is None,
    )
    metrics = GatewayMetrics(multiprocess_dir=settings.metrics_multiprocess_dir)
    if store.write_queue_depth is not None:
        metrics.track_write_queue(store.write_queue_depth)
    startup = [*store.on_startup, *on_startup]
    shutdown = [*on_shutdown, *store.on_shutdown]
    metrics_access = MetricsAccess.from_settings(settings)
    if settings.metrics_port is not None:
        listener = MetricsListener(settings.metrics_host, settings.metrics_port,
                                   metrics_access, metrics.render)
        startup.append(listener.start)
        shutdown.append(listener.stop)
    if safety is None and store.safety is None and sink is None and store.sink is not None:
        pipeline = SafetyPort(settings, store.sink, metrics, logger)
        store.safety = pipeline
        startup.append(pipeline.start)             # after the sink has started
        shutdown.insert(0, pipeline.stop)          # before the sink closes

    async def announce() -> None:
        logger.info("gateway_started", upstream=settings.effective_upstream_url,
                    upstream_kind="stand-in" if stub else "provider", pid=_pid(),
                    catalog_version=catalog.version)

    startup.append(announce)
    tracer = None       # traces are off unless asked for: OpenTelemetry is not even imported
    if settings.otlp_traces_endpoint or span_exporter is not None:
        from zdr.tracing import tracer_from_settings

        tracer = tracer_from_settings(settings, span_exporter)
        if tracer is not None:
            shutdown.append(tracer.stop)
    flusher = LogFlusher(writer)
    startup.append(flusher.start)
    shutdown.append(flusher.stop)
    limits = HeaderLimits(settings.max_header_bytes, settings.max_header_count)
    if server_process:
        server_protocol.configure(limits, settings.header_timeout_seconds)  # request heads
        startup.append(heap.settle_after_startup)       # last: after everything long-lived
    safety = safety or store.safety or NullSafetyQueue()
    app = GatewayApp(
        catalog=catalog,
        directory=directory or store.directory or InMemoryDirectory(),
        sink=sink or store.sink or InMemorySink(),
        safety=safety,
        classify=not isinstance(safety, NullSafetyQueue),
        clock=clock or SystemClock(),
        relay=relay,
        owners=resources or store.resources or InMemoryResourceOwners(),
        metrics=metrics,
        logger=logger,
        log_writer=writer,
        key_cache_ttl=settings.key_cache_ttl_seconds,
        max_body_bytes=settings.max_body_bytes,
        header_limits=limits,
        # Without the store nothing is kept across restarts: a key of this process will do.
        pseudonyms=Pseudonyms(store.identifier_keys or secrets.token_bytes(32), catalog),
        fallback=fallback or store.control,
        end_users=None if store.end_user_key is None else EndUsers(store.end_user_key),
        on_startup=startup,
        on_shutdown=shutdown,
        metrics_access=metrics_access,
        tracer=tracer,
    )
    if store.changes is not None and directory is None:
        store.changes.on_change = app.principals.forget
        store.changes.logger = logger
    return app


class SafetyPort:
    """`zdr.ports.SafetyQueue` for the gateway: the pipeline `Settings` describe, writing to the
    store's sink and counting in the gateway's metrics. Built by `start` (off the loop: spawning
    the classifier's process blocks), stopped by `stop` (drains, then closes the classifier)."""

    def __init__(self, settings: Settings, sink: Any, metrics: GatewayMetrics,
                 logger: Any) -> None:
        self._settings, self._sink, self._metrics, self._log = settings, sink, metrics, logger
        self.pipeline: Any = None

    def submit(self, meta: Any, input_text: str, output_text: str) -> None:
        if self.pipeline is None:   # never while serving: the server starts after `start`
            raise RuntimeError("the safety pipeline is not running")
        self.pipeline.submit(meta, input_text, output_text)

    def submit_parts(self, meta: Any, parts: Sequence[tuple[str, str]],
                     not_scored: tuple[str, ...] = ()) -> None:
        if self.pipeline is None:
            raise RuntimeError("the safety pipeline is not running")
        self.pipeline.submit_parts(meta, parts, not_scored)

    async def start(self) -> None:
        from zdr.safety.pipeline import pipeline_from_settings

        def build() -> Any:
            return pipeline_from_settings(self._settings, self._sink,
                                          registry=self._metrics.registry, logger=self._log)

        try:
            pipeline = await asyncio.to_thread(build)
            await pipeline.start()
        except Exception as error:
            self._log.error("safety_start_failed", error_type=type(error).__name__)
            raise
        self.pipeline = pipeline
        self._log.info("safety_started")

    async def stop(self) -> None:
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            await pipeline.stop()


class LogFlusher:
    """Flushes the log streams twice a second, and at shutdown, so lines are never stale long."""

    def __init__(self, writer: Any, interval: float = 0.5) -> None:
        self._flush = getattr(writer, "flush", None)
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._flush is not None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._flush is not None:
            await asyncio.sleep(self._interval)
            self._flush()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._flush is not None:
            self._flush()


def _pid() -> int:
    import os

    return os.getpid()


def app_factory() -> ASGIApp:
    """What each `zdr serve` worker process runs: settings from ZDR_HOME and the environment,
    inside `ErrorBoundary` (whatever escapes is answered in the API's format, no traceback)."""
    harden_process()    # a spawned worker starts dumpable again (zdr.hardening)
    # the SQL store's ports and the control plane
    app = build_app(load_settings(), server_process=True)
    return ErrorBoundary(app, app.log)
