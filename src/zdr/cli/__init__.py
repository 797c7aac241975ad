"""The `zdr` command line. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from zdr.cli import (
    attest_cmds,
    audit_cmds,
    cluster_cmds,
    flagged_cmds,
    holds_cmds,
    init_cmds,
    keys_cmds,
    orgs_cmds,
    policy_cmds,
    serve_cmds,
    store_cmds,
    tokens_cmds,
    users_cmds,
    verify_cmds,
    workspaces_cmds,
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


# The order of registration is the order `zdr --help` lists the commands and groups in.
for module in (policy_cmds, serve_cmds, init_cmds, orgs_cmds, workspaces_cmds, keys_cmds,
               holds_cmds, flagged_cmds, audit_cmds, users_cmds, tokens_cmds, store_cmds,
               verify_cmds, attest_cmds, cluster_cmds):
    module.register(app)


def main() -> None:
    app()
