"""The `zdr` command line. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from zdr.cli import (
    attest_cmds,
    cluster_cmds,
    control_cmds,
    policy_cmds,
    serve_cmds,
    store_cmds,
    verify_cmds,
)

app = typer.Typer(
    name="zdr",
    help="zdr-gateway: zero data retention arrangements, enforced on live Messages API traffic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the zdr-gateway version and the packaged catalog version."""
    from zdr import __version__
    from zdr.catalog import default_catalog

    typer.echo(f"zdr-gateway {__version__} (catalog {default_catalog().version})")


for module in (policy_cmds, serve_cmds, control_cmds, store_cmds, verify_cmds, attest_cmds,
               cluster_cmds):
    module.register(app)


def main() -> None:
    app()
