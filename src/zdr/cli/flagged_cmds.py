"""`zdr flagged`: flagged content review (trust & safety; every read audited)."""

from __future__ import annotations

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

flagged = typer.Typer(help="Flagged content review (trust & safety; every read audited).",
                      no_args_is_help=True)


@flagged.command("list")
@one_line_errors
def flagged_list(
    org: OrgOption = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """List an organization's flagged records (no content)."""
    plane, actor = session(home, as_user)
    ref = one_org(org, org_id)
    show(plane.flagged.list(actor, ref), as_json,
         lambda f: f"{f.id}  exchange={f.exchange_id}  {f.categories}"
                   f"  until {f.expires_at:%Y-%m-%d}")


@flagged.command("read")
@one_line_errors
def flagged_read(
    record_id: int, home: Home = None, as_user: AsUser = None, as_json: Json = False
) -> None:
    """Read one flagged record's content (audited)."""
    plane, actor = session(home, as_user)
    found = plane.flagged.read(actor, record_id)
    if as_json:
        print_json(as_dict(found))
    else:
        typer.echo(found.content)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(flagged, name="flagged")
