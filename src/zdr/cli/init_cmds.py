"""`zdr init`: create a home (config, master key, migrated store, first provider admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from zdr.cli.common import print_json
from zdr.cli.control_session import Home, Json, one_line_errors
from zdr.control.views import as_dict


@one_line_errors
def init(
    home: Home = None,
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="Succeed, changing nothing, if the home is initialized.")] = False,
    admin_email: Annotated[str, typer.Option(
        "--admin-email", help="Email of the first provider admin.")] = "admin@localhost",
    as_json: Json = False,
) -> None:
    """Create a home: config.toml, master key (0600), migrated store, first provider admin."""
    from zdr.control.bootstrap import init_home
    from zdr.settings import load_settings

    result = init_home(load_settings(home=home), admin_email, if_missing=if_missing)
    if as_json:
        print_json(as_dict(result))
    elif not result.created:
        typer.echo(f"{result.home} is already initialized; nothing changed")
    else:
        typer.echo(f"initialized {result.home}")
        typer.echo(f"provider admin: {result.admin_email}")
        typer.echo(f"password (shown once): {result.admin_password}")
        expires = (result.admin_token_expires_at.date().isoformat()
                   if result.admin_token_expires_at else "?")
        typer.echo(f"admin token (shown once; expires {expires}): {result.admin_token}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("init")(init)
