"""Builds the gateway from `Settings`, once per process: one catalog and, with the SQL store, one
engine, one master key, one `Keyring` (one cache of data keys) and one control plane, shared by
the gateway's ports, the purge sweeper, erasure receipts, the admin API and the console.

`build_app(settings)` is what `zdr serve` runs (through `app_factory`, once per worker process).
Tests pass their own `directory`, `sink`, `safety` and `clock`. A home with neither a store nor a
master key (before `zdr init`) runs on empty in-memory twins (`zdr.inmemory`); once either
exists, a store or master key that cannot be opened (missing, malformed, readable by others)
makes `build_app` raise: the gateway fails closed rather than serve real traffic on in-memory
ports.

With the SQL store's sink in use (and no `safety` given) the safety pipeline
(`zdr.safety.pipeline`) classifies every exchange whose decision keeps a classifier result; it is
built at start-up (its classifier's child process takes seconds to spawn) and stopped at shutdown
before the sink closes, so its last results are still written.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from zdr.catalog import Catalog, load_catalog
from zdr.clock import SystemClock
from zdr.console import build_console_app
from zdr.control.api import build_admin_app
from zdr.control.plane import ControlPlane, build_control_plane
from zdr.end_users import EndUsers
from zdr.gateway import heap, server_protocol
from zdr.gateway.app import GatewayApp
from zdr.gateway.asgi import ASGIApp
from zdr.gateway.boundary import ErrorBoundary
from zdr.gateway.collaborators import Limits, Outputs, PolicyInputs
from zdr.gateway.header_limits import HeaderLimits
from zdr.gateway.metrics_access import MetricsAccess, MetricsListener
from zdr.gateway.pseudonyms import Pseudonyms
from zdr.gateway.relay import Relay
from zdr.gateway.responses import new_request_id, send_error
from zdr.gateway.upstream_aiohttp import AiohttpUpstream
from zdr.gateway.upstream_httptools import HttptoolsUpstream
from zdr.hardening import harden_process
from zdr.inmemory import InMemoryDirectory, InMemoryResourceOwners, InMemorySink, NullSafetyQueue
from zdr.observability import GatewayMetrics, file_and_stderr_writer, make_logger
from zdr.ports import Clock, Directory, ExchangeSink, ResourceOwners, SafetyQueue, Upstream
from zdr.settings import Settings, load_settings
from zdr.store.changes import ChangeListener
from zdr.store.crypto import Keyring, derived_key, load_master_key
from zdr.store.db import engine_for, store_exists
from zdr.store.directory import SqlDirectory
from zdr.store.erasure_records import ErasureReport
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.resources import SqlResourceOwners
from zdr.store.sweeper import PurgeSweeper

STUB_PROVIDER_KEY = "stand-in-upstream-key"
CONTROL_PREFIXES = ("/admin/", "/console/", "/.well-known/zdr/")
Hook = Callable[[], Awaitable[None]]


@dataclass
class StorePorts:
    """What the SQL store gives the gateway; all None without a store (in-memory twins)."""

    directory: Directory | None = None
    sink: ExchangeSink | None = None
    safety: SafetyQueue | None = None
    control: ASGIApp | None = None
    resources: ResourceOwners | None = None
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    write_queue_depth: Callable[[], int] | None = None
    changes: ChangeListener | None = None       # PostgreSQL: arrangement changes, at once
    identifier_keys: Callable[[str], bytes] | None = None   # each org's pseudonym key
    end_user_key: bytes | None = None       # keyed hashes of metadata.user_id (master key)

    def hooks(self, start: Hook, stop: Hook) -> None:
        self.on_startup.append(start)
        self.on_shutdown.append(stop)


def sql_ports(settings: Settings, catalog: Catalog) -> StorePorts:
    """The SQL store's ports over one engine and one keyring; none before `zdr init`."""
    if not (settings.master_key or settings.key_file.exists()
            or store_exists(settings.database_url)):
        return StorePorts()
    # From here on a store or a key is configured: one that cannot be opened stops the start
    # (MasterKeyError and the like propagate), never a quiet fall-back to in-memory ports.
    master_key = load_master_key(settings)
    engine = engine_for(settings.database_url)
    keyring = Keyring(engine, master_key)
    plane = build_control_plane(settings, engine, catalog, keys=(master_key, keyring))
    sink = SqlExchangeSink(engine, keyring, capacity=settings.write_queue)
    ports = StorePorts(
        directory=SqlDirectory(engine),
        sink=sink,
        resources=SqlResourceOwners(engine),
        control=control_plane_app(settings, plane),
        write_queue_depth=lambda: sink.writer.depth,
        identifier_keys=keyring.identifier_key,     # from each org's data key
        end_user_key=derived_key(master_key, "end-users"),
    )
    ports.hooks(*_sink_hooks(sink))
    if settings.purge_interval_seconds > 0:
        ports.hooks(*_sweeper_hooks(PurgeSweeper.from_settings(
            engine, keyring, settings, catalog, on_erased=erasure_receipts(plane))))
    if engine.dialect.name == "postgresql":     # arrangement changes from any process, at once
        ports.changes = ChangeListener(settings.database_url)   # LISTEN: a connection of its own
        ports.hooks(ports.changes.start, ports.changes.stop)
    return ports


def _sink_hooks(sink: SqlExchangeSink) -> tuple[Hook, Hook]:
    async def start() -> None:
        sink.start()

    async def close() -> None:
        await sink.flush()
        await asyncio.to_thread(sink.close)

    return start, close


def erasure_receipts(plane: ControlPlane) -> Callable[[ErasureReport], None]:
    """What the sweeper calls for each org it erased: issue its signed receipt."""

    def issue(report: ErasureReport) -> None:
        plane.evidence.org_erasure_receipt(report)

    return issue


def _sweeper_hooks(sweeper: PurgeSweeper) -> tuple[Hook, Hook]:
    """The store's purge sweeper runs in the background while the gateway serves (on SQLite only
    one worker process sweeps: the home's purge.lock, zdr.store.sweep_lock; on PostgreSQL one
    purge at a time of all instances: an advisory lock). `purge_interval_seconds` 0: none here
    (a separate `zdr purge` timer sweeps, deploy/systemd/zdr-sweeper.timer)."""

    async def start() -> None:
        sweeper.start()

    async def stop() -> None:
        await asyncio.to_thread(sweeper.stop)

    return start, stop


def control_plane_app(settings: Settings, plane: ControlPlane | None = None) -> ASGIApp:
    """What the gateway hands every path it does not serve: the admin API at `/admin/v1/…`
    (paths unchanged), the web console at `/console`, and a 404 in the API's format otherwise.
    `plane`: the process's control plane (else one is built for `settings`)."""
    plane = plane or build_control_plane(settings)
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


def attestation_key_route(plane: ControlPlane) -> Route:
    """`GET /.well-known/zdr/attestation-key`: every public key the deployment signs (and has
    signed) statements, receipts and audit checkpoints with — public, no token."""

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
    catalog = load_catalog(settings.catalog_path)
    if use_store is None:
        use_store = directory is None or sink is None
    store = sql_ports(settings, catalog) if use_store else StorePorts()
    writer = log_writer if log_writer is not None else file_and_stderr_writer(settings.log_file)
    logger = make_logger(writer)
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
    startup.append(_announce(settings, catalog, logger))
    tracer = _tracer(settings, span_exporter)
    if tracer is not None:
        shutdown.append(tracer.stop)
    flusher = LogFlusher(writer)
    startup.append(flusher.start)
    shutdown.append(flusher.stop)
    header_limits = HeaderLimits(settings.max_header_bytes, settings.max_header_count)
    if server_process:
        server_protocol.configure(header_limits, settings.header_timeout_seconds)  # heads
        startup.append(heap.settle_after_startup)       # last: after everything long-lived
    safety = safety or store.safety or NullSafetyQueue()
    # Without the store nothing is kept across restarts: a key of this process will do.
    app = GatewayApp(
        PolicyInputs(
            catalog=catalog,
            directory=directory or store.directory or InMemoryDirectory(),
            owners=resources or store.resources or InMemoryResourceOwners(),
            clock=clock or SystemClock(),
            pseudonyms=Pseudonyms(store.identifier_keys or secrets.token_bytes(32), catalog),
            end_users=EndUsers(store.end_user_key or secrets.token_bytes(32)),
        ),
        Outputs(
            sink=sink or store.sink or InMemorySink(),
            safety=safety,
            classify=not isinstance(safety, NullSafetyQueue),
            metrics=metrics,
            metrics_access=metrics_access,
            logger=logger,
            log_writer=writer,
            tracer=tracer,
        ),
        Limits(max_body_bytes=settings.max_body_bytes, header_limits=header_limits,
               key_cache_ttl=settings.key_cache_ttl_seconds),
        _relay(settings, upstream),
        fallback=fallback or store.control,
        on_startup=startup,
        on_shutdown=shutdown,
    )
    if store.changes is not None and directory is None:
        store.changes.on_change = app.principals.forget
        store.changes.logger = logger
    return app


def _upstream(settings: Settings) -> Upstream:
    client = (HttptoolsUpstream if settings.upstream_client == "httptools" else AiohttpUpstream)
    return client(settings.effective_upstream_url, read_timeout=settings.upstream_timeout_seconds)


def _relay(settings: Settings, upstream: Upstream | None) -> Relay:
    return Relay(
        upstream or _upstream(settings),
        settings.provider_api_key or STUB_PROVIDER_KEY,
        forward_knobs=settings.provider_api_key is None,
    )


def _announce(settings: Settings, catalog: Catalog, logger: Any) -> Hook:
    async def announce() -> None:
        logger.info("gateway_started", upstream=settings.effective_upstream_url,
                    upstream_kind="stand-in" if settings.uses_stub_upstream else "provider",
                    upstream_client=settings.upstream_client, pid=os.getpid(),
                    catalog_version=catalog.version)

    return announce


def _tracer(settings: Settings, span_exporter: Any) -> Any:
    """Traces are off unless asked for, and OpenTelemetry is then not even imported (it costs
    each worker process tens of milliseconds and megabytes for nothing)."""
    if not settings.otlp_traces_endpoint and span_exporter is None:
        return None
    from zdr.tracing import tracer_from_settings

    return tracer_from_settings(settings, span_exporter)


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


def app_factory() -> ASGIApp:
    """What each `zdr serve` worker process runs: settings from ZDR_HOME and the environment,
    inside `ErrorBoundary` (whatever escapes is answered in the API's format, no traceback)."""
    harden_process()    # a spawned worker starts dumpable again (zdr.hardening)
    # the SQL store's ports and the control plane
    app = build_app(load_settings(), server_process=True)
    return ErrorBoundary(app, app.log)
