"""`zdr workspaces`: an organization's workspaces and their retention overrides."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zdr.cli.control_session import AsUser, Home, Json, one_line_errors, session, show

workspaces = typer.Typer(help="Workspaces of an organization.", no_args_is_help=True)


def workspace_line(ws: Any) -> str:
    override = f"{ws.retention_override_days} days" if ws.retention_override_days else "none"
    return f"{ws.name}  retention override: {override}  id={ws.id}"


@workspaces.command("create")
@one_line_errors
def workspaces_create(
    org: str, name: str,
    retention_override_days: Annotated[int | None, typer.Option(
        "--retention-override-days")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Create a workspace, optionally with its own retention period."""
    plane, actor = session(home, as_user)
    show(plane.workspaces.create(actor, org, name, retention_override_days), as_json,
         workspace_line)


@workspaces.command("list")
@one_line_errors
def workspaces_list(
    org: str, home: Home = None, as_user: AsUser = None, as_json: Json = False
) -> None:
    """List an organization's workspaces."""
    plane, actor = session(home, as_user)
    show(plane.workspaces.list(actor, org), as_json, workspace_line)


@workspaces.command("set-retention")
@one_line_errors
def workspaces_set_retention(
    org: str, name: str,
    days: Annotated[int | None, typer.Option("--days", help="Omit to clear the override.")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Set or clear a workspace's retention override."""
    plane, actor = session(home, as_user)
    show(plane.workspaces.set_retention(actor, org, name, days), as_json, workspace_line)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(workspaces, name="workspaces")
