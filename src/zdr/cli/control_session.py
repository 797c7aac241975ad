"""Acting on the control plane from the command line: what every control command shares.

Every command acts through `zdr.control` services as the local operator (`system:local-operator`,
role provider_admin, so recorded in the audit log) or, with `--as EMAIL`, as that user with that
user's roles. `--home` (or ZDR_HOME) picks the home; `--json` prints JSON; errors are one line on
standard error with a non-zero exit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from zdr.cli.common import HOME_HELP, JSON_HELP, fail, print_json
from zdr.control.views import as_dict
from zdr.errors import DatabaseUnavailable, ZdrError

if TYPE_CHECKING:  # the services load on first use, so `zdr --help` stays fast
    from zdr.control.plane import ControlPlane
    from zdr.control.roles import Actor

P = ParamSpec("P")
R = TypeVar("R")

Home = Annotated[Path | None, typer.Option("--home", help=HOME_HELP)]
AsUser = Annotated[str | None, typer.Option(
    "--as", help="Act as this user (with their roles) instead of the local operator.")]
Json = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
OrgName = Annotated[str | None, typer.Argument(
    metavar="NAME", help="The organization's name (or give --org-id).", show_default=False)]
OrgOption = Annotated[str | None, typer.Option(
    "--org", help="The organization's name (or give --org-id).")]
OrgIdOption = Annotated[str | None, typer.Option(
    "--org-id", help="The organization's id, instead of its name.")]


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the control plane's errors into `zdr: error: …` and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from zdr.outage import is_store_outage, logged_type

        try:
            return command(*args, **kwargs)
        except DatabaseUnavailable as error:
            fail(database_down(error.driver_error))
        except ZdrError as error:       # the control plane's refusals, a key, the schema
            fail(error.message.splitlines()[0])
        except OSError as error:
            fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
        except Exception as error:
            if not is_store_outage(error):      # the pool's timeout: not a statement's error
                raise
            fail(database_down(logged_type(error)))

    return run


def database_down(driver_error: str) -> str:
    return (f"the database is unavailable ({driver_error}); check that it is running and that "
            "ZDR_DB_URL is right")


def session(home: Path | None, as_user: str | None) -> tuple[ControlPlane, Actor]:
    from zdr.control.plane import build_control_plane
    from zdr.control.roles import system_actor
    from zdr.settings import load_settings

    settings = load_settings(home=home)
    if not settings.db_url and not settings.sqlite_path.exists():
        fail(f"no zdr store in {settings.home}: run `zdr init` first (or set --home / ZDR_HOME)")
    plane = build_control_plane(settings)
    actor = system_actor() if as_user is None else plane.accounts.actor_for_email(as_user)
    return plane, actor


def org_ref(name: str | None, org_id: str | None, *, required: bool = True) -> str | None:
    """The organization named on the command line: by name or by `--org-id`, never either."""
    from zdr.control.org_names import OrgId
    from zdr.control.org_names import OrgName as ByName

    if name is not None and org_id is not None:
        fail("name the organization by NAME or by --org-id, not both")
    if org_id is not None:
        return OrgId(org_id)
    if name is not None:
        return ByName(name)
    if required:
        fail("name the organization: NAME, or --org-id ID")
    return None


def one_org(name: str | None, org_id: str | None) -> str:
    ref = org_ref(name, org_id)
    assert ref is not None
    return ref


def show(value: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        print_json([as_dict(v) for v in value] if isinstance(value, list) else as_dict(value))
    elif isinstance(value, list):
        for item in value:
            typer.echo(text(item))
    else:
        typer.echo(text(value))
