"""`zdr serve` (the gateway) and `zdr stub-upstream` (a local stand-in for the provider's API)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

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
    and migrate an existing store to this code's schema (PostgreSQL: one instance at a time)."""
    from sqlalchemy.engine import make_url

    from zdr.store.crypto import MasterKeyError, load_master_key
    from zdr.store.db import SchemaTooNew, engine_for, migrate
    from zdr.wiring import store_exists

    if settings.master_key or settings.key_file.exists() or store_exists(settings):
        try:
            load_master_key(settings)
        except MasterKeyError as error:
            fail(str(error))
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        return      # no store yet (`zdr init` makes one): the gateway runs on in-memory ports
    engine = engine_for(settings.database_url)
    try:
        migrate(engine)
    except SchemaTooNew as error:
        fail(str(error))
    finally:
        engine.dispose()


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")]
    = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8787).")] = None,
    upstream: Annotated[str | None, typer.Option(help="Upstream Messages API base URL.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default 1).")]
    = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: SQLite in the home).")]
    = None,
    home: Annotated[Path | None, typer.Option(help=HOME_HELP)] = None,
) -> None:
    """Run the gateway. Uses the provider's API when a provider key is configured
    (ZDR_PROVIDER_API_KEY), else starts and uses the local stand-in upstream."""
    import uvicorn

    from zdr.gateway.server_protocol import PROTOCOL
    from zdr.settings import load_settings

    settings = load_settings(home=home, host=host, port=port, upstream_url=upstream,
                             workers=workers, db_url=db)
    # Worker processes build their app from the environment (zdr.wiring.app_factory).
    os.environ["ZDR_HOME"] = str(settings.home)
    if upstream:
        os.environ["ZDR_UPSTREAM_URL"] = upstream
    if db:
        os.environ["ZDR_DB_URL"] = db
    prepare_store(settings)
    stub = None
    if settings.uses_stub_upstream:
        stub = start_stub(settings.stub_port)
        typer.echo(f"zdr: upstream: the local stand-in at {settings.effective_upstream_url} "
                   "(no ZDR_PROVIDER_API_KEY set; replies are generated, not a real model)")
    else:
        typer.echo(f"zdr: upstream: {settings.effective_upstream_url}")
    typer.echo(f"zdr: gateway on http://{settings.host}:{settings.port} with "
               f"{settings.workers} worker(s); logs in {settings.log_file}")
    try:
        uvicorn.run(
            "zdr.wiring:app_factory", factory=True, host=settings.host, port=settings.port,
            workers=settings.workers, loop="uvloop", http=PROTOCOL, lifespan="on",
            access_log=False, log_level="warning", timeout_graceful_shutdown=30,
            # The client's address is the connection's peer; X-Forwarded-* are believed only
            # from `forwarded_allow_ips` (zdr.console.client_address), never by uvicorn's default.
            proxy_headers=False,
        )
    finally:
        if stub is not None:
            stub.terminate()
            stub.wait(timeout=10)


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
    from zdr.testing.stub_upstream import StubConfig, run_stub

    typer.echo(f"zdr: stand-in upstream on http://{host}:{port}")
    run_stub(host, port, StubConfig(latency_ms=latency_ms, chunks=chunks,
                                    chunk_delay_ms=chunk_delay_ms, output=output),
             exit_with_parent=exit_with_parent)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("serve")(serve)
    app.command("stub-upstream")(stub_upstream)
