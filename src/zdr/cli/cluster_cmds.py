"""`zdr cluster up`: the multi-instance deployment on this machine (zdr.cluster.local)."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from zdr.cli.common import fail

if TYPE_CHECKING:
    from zdr.cluster.local import LocalCluster

cluster = typer.Typer(help="A local multi-instance deployment: nginx, instances, PostgreSQL.",
                      no_args_is_help=True)


@cluster.command("up")
def up(
    instances: Annotated[int, typer.Option(min=1, max=16, help="zdr serve instances.")] = 2,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes per instance.")]
    = 2,
    port: Annotated[int | None, typer.Option(help="nginx's port (default: a free one).")]
    = None,
    upstream: Annotated[str | None, typer.Option(
        help="Upstream Messages API base URL (default: a local stand-in).")] = None,
) -> None:
    """Start PostgreSQL, a home on it, INSTANCES x `zdr serve --workers WORKERS` and nginx in
    front, in a new temporary folder; stop and remove all of it on Ctrl-C."""
    from zdr.cluster.local import ClusterError, LocalCluster
    from zdr.cluster.nginx import NginxUnavailable
    from zdr.testing.postgres import PostgresUnavailable

    local = LocalCluster(instances_at_start=instances, workers=workers, port=port,
                         upstream=upstream)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    typer.echo(f"zdr: starting the cluster in {local.root}")
    try:
        local.start()
    except (ClusterError, NginxUnavailable, PostgresUnavailable) as error:
        fail(str(error).splitlines()[0])
    try:
        for line in summary(local):
            typer.echo(line)
        stop.wait()
        typer.echo("zdr: stopping the cluster")
    finally:
        local.stop()


def summary(local: LocalCluster) -> list[str]:
    """What a user needs to try the cluster: where it answers, and how to reach its store."""
    lines = [f"zdr: cluster ready at {local.url} (nginx)"]
    for instance in local.instances:
        lines.append(f"zdr:   instance {instance.number}: {instance.url} "
                     f"({local.workers} workers; /metrics there; log {instance.log_file})")
    lines += [
        f"zdr:   database: {local.database_url}",
        f"zdr:   upstream: {local.upstream}",
        f"zdr:   home: {local.home} (run other commands with --home {local.home})",
        f"zdr:   provider admin: admin@localhost, password (shown once): {local.admin_password}",
        f"zdr:   admin token (shown once): {local.admin_token}",
        "zdr: Ctrl-C stops every process and removes the folder (the database too)",
    ]
    return lines


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(cluster, name="cluster")
