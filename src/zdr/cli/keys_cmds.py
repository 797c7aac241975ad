"""`zdr keys`: API keys (the secret is shown once, stored only as a hash)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zdr.cli.common import print_json
from zdr.cli.control_session import (
    AsUser,
    Home,
    Json,
    OrgIdOption,
    OrgOption,
    one_line_errors,
    one_org,
    session,
    show,
)
from zdr.control.views import as_dict

keys = typer.Typer(help="API keys (the secret is shown once).", no_args_is_help=True)


def key_line(key: Any) -> str:
    state = "revoked" if key.revoked_at else "active"
    return f"{key.prefix}  kind={key.kind}  {state}  workspace={key.workspace_id}"


@keys.command("create")
@one_line_errors
def keys_create(
    org: OrgOption = None, org_id: OrgIdOption = None,
    workspace: Annotated[str | None, typer.Option("--workspace")] = None,
    kind: Annotated[str, typer.Option(
        "--kind", help="api|enterprise_seat|console|consumer")] = "api",
    name: Annotated[str | None, typer.Option("--name")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Create an API key. The secret is printed this once and stored only as a hash."""
    plane, actor = session(home, as_user)
    ref = one_org(org, org_id)
    created = plane.keys.create(actor, ref, workspace, kind, name)
    if as_json:
        print_json(as_dict(created))
    else:
        typer.echo(f"key {created.prefix} (kind {created.kind}); the secret, shown once:")
        typer.echo(created.secret)


@keys.command("revoke")
@one_line_errors
def keys_revoke(
    prefix: str, home: Home = None, as_user: AsUser = None, as_json: Json = False
) -> None:
    """Revoke an API key by its prefix."""
    plane, actor = session(home, as_user)
    show(plane.keys.revoke(actor, prefix), as_json, key_line)


@keys.command("list")
@one_line_errors
def keys_list(
    org: OrgOption = None, org_id: OrgIdOption = None,
    workspace: Annotated[str | None, typer.Option("--workspace")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """List an organization's keys (prefixes only)."""
    plane, actor = session(home, as_user)
    ref = one_org(org, org_id)
    show(plane.keys.list(actor, ref, workspace), as_json, key_line)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(keys, name="keys")
