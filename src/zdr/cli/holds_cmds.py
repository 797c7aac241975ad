"""`zdr holds`: legal holds and safety investigations."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zdr.cli.control_session import (
    AsUser,
    Home,
    Json,
    OrgIdOption,
    OrgOption,
    one_line_errors,
    one_org,
    org_ref,
    session,
    show,
)
from zdr.control.holds import Scope

holds = typer.Typer(help="Legal holds and safety investigations.", no_args_is_help=True)


def hold_line(hold: Any) -> str:
    state = f"released {hold.released_at:%Y-%m-%d}" if hold.released_at else "standing"
    where = hold.workspace_id or hold.exchange_id or hold.org_id
    return f"{hold.id}  {hold.kind}  {hold.scope}={where}  {state}  placed by {hold.placed_by}"


@holds.command("place")
@one_line_errors
def holds_place(
    reason: Annotated[str, typer.Option("--reason")],
    org: OrgOption = None, org_id: OrgIdOption = None,
    workspace: Annotated[str | None, typer.Option("--workspace")] = None,
    exchange: Annotated[str | None, typer.Option("--exchange", help="An exchange id.")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Place a hold on an org, a workspace or one exchange (legal / trust & safety)."""
    plane, actor = session(home, as_user)
    ref = one_org(org, org_id)
    scope: Scope = "exchange" if exchange else "workspace" if workspace else "org"
    show(plane.holds.place(actor, ref, reason, scope, workspace, exchange), as_json, hold_line)


@holds.command("release")
@one_line_errors
def holds_release(
    hold_id: str, home: Home = None, as_user: AsUser = None, as_json: Json = False
) -> None:
    """Release a hold; purge may then take what has expired under it."""
    plane, actor = session(home, as_user)
    show(plane.holds.release(actor, hold_id), as_json, hold_line)


@holds.command("list")
@one_line_errors
def holds_list(
    org: OrgOption = None, org_id: OrgIdOption = None,
    include_released: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """List standing holds."""
    plane, actor = session(home, as_user)
    ref = org_ref(org, org_id, required=False)
    show(plane.holds.list(actor, ref, include_released), as_json, hold_line)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(holds, name="holds")
