"""`zdr tokens`: admin API tokens (shown once, stored as a hash; they expire)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from zdr.cli.common import fail, print_json
from zdr.cli.control_session import AsUser, Home, Json, one_line_errors, session
from zdr.control.views import as_dict

tokens = typer.Typer(help="Admin API tokens (shown once).", no_args_is_help=True)


@tokens.command("revoke")
@one_line_errors
def tokens_revoke(prefix: str, home: Home = None, as_user: AsUser = None) -> None:
    """Revoke an admin API token by its prefix."""
    plane, actor = session(home, as_user)
    plane.accounts.revoke_token(actor, prefix)
    typer.echo(f"revoked admin token {prefix}")


@tokens.command("create")
@one_line_errors
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="Email of the token's user.")],
    expires_in: Annotated[str, typer.Option(
        "--expires-in", help="How long it works: e.g. 90d (default), 12h, 30m; at most 365d.")]
    = "90d",
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Create an admin API token for a user; printed once, stored as a hash; it expires."""
    lifetime = parse_duration(expires_in)
    plane, actor = session(home, as_user)
    token = plane.accounts.create_token(actor, user, lifetime)
    if as_json:
        print_json(as_dict(token))
    else:
        expires = token.expires_at.isoformat(timespec="minutes") if token.expires_at else "?"
        typer.echo(f"admin token {token.prefix} for {user}, expires {expires}; shown once:")
        typer.echo(token.secret)


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m` (a bare number is days) as a timedelta; one-line error otherwise."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    value = text.strip().lower()
    unit = units.get(value[-1:], "")
    number = value[:-1] if unit else value
    if not number.isdigit() or len(number) > 6:
        fail(f"--expires-in {text[:20]!r}: write a number of days, hours or minutes "
             "(90d, 12h, 30m)")
    return timedelta(**{unit or "days": int(number)})


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(tokens, name="tokens")
