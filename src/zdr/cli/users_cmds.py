"""`zdr users`: the people who use the console and the admin API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from zdr.cli.common import fail, print_json
from zdr.cli.control_session import AsUser, Home, Json, one_line_errors, session, show
from zdr.control.views import as_dict

users = typer.Typer(help="People who use the console and the admin API.", no_args_is_help=True)


@users.command("create")
@one_line_errors
def users_create(
    email: str,
    provider_role: Annotated[list[str] | None, typer.Option(
        "--provider-role", help="provider_admin|reviewer|legal|trust_safety (repeatable)")] = None,
    org_role: Annotated[list[str] | None, typer.Option(
        "--org-role", help="ORG:ROLE with ROLE org_owner|org_admin|org_member (repeatable)")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (else one is made).")
    ] = False,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Create a user (console password hashed with argon2)."""
    import secrets

    grants: dict[str, list[str]] = {}
    for item in org_role or []:
        org, sep, role = item.rpartition(":")
        if not sep or not org:
            fail(f"--org-role takes ORG:ROLE, not {item!r}")
        grants.setdefault(org, []).append(role)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(18)
    plane, actor = session(home, as_user)
    user = plane.accounts.create_user(actor, email, password, provider_role or [], grants)
    if as_json:
        print_json({**as_dict(user), **({} if password_stdin else {"password": password})})
        return
    roles = ", ".join([*user.provider_roles, *(f"{r}@{o}" for o, rs in user.org_roles.items()
                                               for r in rs)]) or "no role"
    typer.echo(f"user {user.email} ({roles})")
    if not password_stdin:
        typer.echo(f"password (shown once): {password}")


@users.command("list")
@one_line_errors
def users_list(home: Home = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """List users and their roles (provider admins)."""
    plane, actor = session(home, as_user)
    show(plane.accounts.list_users(actor), as_json,
         lambda u: f"{u.email}  {', '.join(u.provider_roles) or '-'}  "
                   f"{' '.join(f'{r}@{o}' for o, rs in u.org_roles.items() for r in rs)}")


@users.command("set-password")
@one_line_errors
def users_set_password(
    email: str,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (else one is made).")
    ] = False,
    home: Home = None, as_user: AsUser = None,
) -> None:
    """Set a user's console password (provider admins); ends every console session of theirs."""
    import secrets

    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(18)
    plane, actor = session(home, as_user)
    plane.accounts.set_password(actor, email, password)
    typer.echo(f"password of {email.strip().lower()} set; their console sessions have ended")
    if not password_stdin:
        typer.echo(f"password (shown once): {password}")


@users.command("disable")
@one_line_errors
def users_disable(email: str, home: Home = None, as_user: AsUser = None) -> None:
    """Disable a user: no sign-in, no admin token; their console sessions end at once."""
    plane, actor = session(home, as_user)
    plane.accounts.disable_user(actor, email)
    typer.echo(f"disabled {email.strip().lower()}; their console sessions have ended")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(users, name="users")
