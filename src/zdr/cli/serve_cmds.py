"""`zdr serve` (the gateway) and `zdr stub-upstream` (a local stand-in for the provider's API)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from zdr.cli.common import HOME_HELP, fail
from zdr.settings import Settings

STUB_START_SECONDS = 10.0


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def start_stub(port: int) -> subprocess.Popen[bytes] | None:
    """Start the stand-in upstream in a child process, unless one already listens on `port`."""
    if _port_open("127.0.0.1", port):
        return None
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and command, no shell
        [sys.executable, "-c", "from zdr.cli import main; main()", "stub-upstream",
         "--port", str(port), "--exit-with-parent"],
    )
    deadline = time.monotonic() + STUB_START_SECONDS
    while time.monotonic() < deadline:
        if _port_open("127.0.0.1", port):
            return child
        if child.poll() is not None:
            break
        time.sleep(0.05)
    child.terminate()
    fail(f"the stand-in upstream did not start on port {port}")


def prepare_store(settings: Settings) -> None:
    """Before any worker starts: refuse an unsafe master key file (one line, e.g. "chmod 600"),
    and migrate the store to this code's schema (PostgreSQL: one instance at a time). A store
    that cannot be reached or opened ends `zdr serve` with one line naming its host or file
    (never the URL's password). Only a home without a master key, a store or a configured
    database URL (before `zdr init`) runs without a store, on in-memory ports."""
    from sqlalchemy.engine import make_url

    from zdr.store.crypto import MasterKeyError, load_master_key
    from zdr.store.db import SchemaTooNew, durability_warning, engine_for, migrate, store_exists

    has_key = bool(settings.master_key or settings.key_file.exists())
    url = make_url(settings.database_url)
    if settings.db_url and not has_key:
        fail(f"no master key for the store at {_place(url)}: set ZDR_MASTER_KEY or run "
             "`zdr init`")
    if has_key or store_exists(settings.database_url):
        try:
            load_master_key(settings)
        except MasterKeyError as error:
            fail(str(error))
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if not path.exists():
            if has_key or settings.db_url:
                fail(f"no store at {path}: run `zdr init`, or set ZDR_DB_URL to the store")
            return      # no store yet (`zdr init` makes one): the gateway runs on in-memory ports
    try:
        engine = engine_for(settings.database_url)
        try:
            migrate(engine)
            warning = durability_warning(engine)
        finally:
            engine.dispose()
    except SchemaTooNew as error:
        fail(str(error))
    except Exception as error:  # noqa: BLE001 - any failure to reach it: one line, by type
        fail(unreachable(settings.database_url, error))
    if warning:
        typer.echo(f"zdr: warning: {warning}", err=True)


def metrics_where(settings: Settings) -> str:
    """Where /metrics is served, and to whom (zdr.gateway.metrics_access)."""
    from zdr.gateway.metrics_access import MetricsAccess

    access = MetricsAccess.from_settings(settings)
    token = " (bearer token required)" if access.token else ""
    if settings.metrics_port is not None:
        return f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics{token}"
    if access.on_gateway_port:
        return f"metrics at /metrics on the gateway's port{token}"
    return ("metrics off: the gateway listens beyond loopback; set ZDR_METRICS_TOKEN or "
            "ZDR_METRICS_PORT to serve /metrics")


def unreachable(database_url: str, error: BaseException) -> str:
    """One line for a store that cannot be used: its host and port (PostgreSQL) or file
    (SQLite) and the error's type — never the password, nor the driver's message."""
    from sqlalchemy.engine import make_url

    from zdr.outage import logged_type

    url = make_url(database_url)
    reason = logged_type(error)
    if url.get_backend_name() == "sqlite":
        return f"cannot open the SQLite store {url.database} ({reason})"
    return (f"cannot reach the database at {_place(url)} ({reason}); check that the server is "
            "up and that ZDR_DB_URL is right")


def _place(url: Any) -> str:
    """Where a database is, for messages: the SQLite file, or PostgreSQL's host:port."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def multiprocess_metrics(settings: Settings) -> Path | None:
    """With several workers, a fresh private folder for prometheus-client's multiprocess files
    (PROMETHEUS_MULTIPROC_DIR, inherited by every worker), so /metrics counts them all. Emptied
    now (counts of an earlier run must not add up) and removed when the gateway stops."""
    if settings.workers < 2:
        return None
    from zdr.settings import MULTIPROCESS_VARIABLE

    folder = settings.tmp_dir / f"metrics-{settings.port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)
    return folder


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")]
    = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8787).")] = None,
    upstream: Annotated[str | None, typer.Option(help="Upstream Messages API base URL.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default 1).")]
    = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: SQLite in the home).")]
    = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve /metrics on this port only (on metrics_host, default 127.0.0.1).")] = None,
    home: Annotated[Path | None, typer.Option(help=HOME_HELP)] = None,
) -> None:
    """Run the gateway. Uses the provider's API when a provider key is configured
    (ZDR_PROVIDER_API_KEY), else starts and uses the local stand-in upstream."""
    import uvicorn

    from zdr.gateway.server_protocol import protocol_named
    from zdr.hardening import harden_process
    from zdr.settings import exposed_config_secrets, load_settings

    harden_process()    # before any worker or child starts: no core dumps (zdr.hardening)
    settings = load_settings(home=home, host=host, port=port, upstream_url=upstream,
                             workers=workers, db_url=db, metrics_port=metrics_port)
    exposed = exposed_config_secrets(settings.home)
    if exposed:
        fail(exposed)
    # Worker processes build their app from the environment (zdr.wiring.app_factory).
    os.environ["ZDR_HOME"] = str(settings.home)
    os.environ["ZDR_HOST"] = settings.host      # what /metrics is open to depends on it
    os.environ["ZDR_PORT"] = str(settings.port)
    if upstream:
        os.environ["ZDR_UPSTREAM_URL"] = upstream
    if db:
        os.environ["ZDR_DB_URL"] = db
    if metrics_port is not None:
        os.environ["ZDR_METRICS_PORT"] = str(metrics_port)
    prepare_store(settings)
    metrics_dir = multiprocess_metrics(settings)
    stub = None
    if settings.uses_stub_upstream:
        stub = start_stub(settings.stub_port)
        typer.echo(f"zdr: upstream: the local stand-in at {settings.effective_upstream_url} "
                   "(no ZDR_PROVIDER_API_KEY set; replies are generated, not a real model)")
    else:
        typer.echo(f"zdr: upstream: {settings.effective_upstream_url}")
    typer.echo(f"zdr: gateway on http://{settings.host}:{settings.port} with "
               f"{settings.workers} worker(s); logs in {settings.log_file}")
    typer.echo(f"zdr: {metrics_where(settings)}")
    try:
        uvicorn.run(
            "zdr.wiring:app_factory", factory=True, host=settings.host, port=settings.port,
            workers=settings.workers, loop="uvloop",
            http=protocol_named(settings.http_protocol), lifespan="on",
            access_log=False, log_level="warning", timeout_graceful_shutdown=30,
            # The client's address is the connection's peer; X-Forwarded-* are believed only
            # from `forwarded_allow_ips` (zdr.console.client_address), never by uvicorn's default.
            proxy_headers=False,
        )
    finally:
        if stub is not None:
            stub.terminate()
            stub.wait(timeout=10)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def stub_upstream(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8788,
    latency_ms: Annotated[float, typer.Option(help="Wait this long before each answer.")] = 0.0,
    chunks: Annotated[int, typer.Option(min=1, help="Text deltas per streamed answer.")] = 4,
    chunk_delay_ms: Annotated[float, typer.Option(help="Wait between streamed events.")] = 0.0,
    output: Annotated[str | None, typer.Option(help="Fixed reply text (default: echo input).")]
    = None,
    exit_with_parent: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Serve a local stand-in for the provider's Messages API (offline use, tests, benchmarks).
    Per-request knobs: x-stub-* headers (see zdr.testing.stub_upstream)."""
    from zdr.hardening import harden_process
    from zdr.testing.stub_upstream import StubConfig, run_stub

    harden_process()    # it echoes what it is sent: no core dumps of that (zdr.hardening)
    typer.echo(f"zdr: stand-in upstream on http://{host}:{port}")
    run_stub(host, port, StubConfig(latency_ms=latency_ms, chunks=chunks,
                                    chunk_delay_ms=chunk_delay_ms, output=output),
             exit_with_parent=exit_with_parent)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("serve")(serve)
    app.command("stub-upstream")(stub_upstream)
