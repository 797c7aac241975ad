"""Control-plane commands: `zdr init`, orgs, workspaces, keys, holds, flagged, audit, users, tokens.

Every command acts through `zdr.control` services as the local operator (`system:local-operator`,
role provider_admin, so recorded in the audit log) or, with `--as EMAIL`, as that user with that
user's roles. `--home` (or ZDR_HOME) picks the home; `--json` prints JSON; errors are one line on
standard error with a non-zero exit.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from zdr.cli.common import HOME_HELP, JSON_HELP, fail, print_json
from zdr.control.holds import Scope
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

orgs = typer.Typer(help="Organizations and their arrangements (ZDR, HIPAA, retention).",
                   no_args_is_help=True)
workspaces = typer.Typer(help="Workspaces of an organization.", no_args_is_help=True)
keys = typer.Typer(help="API keys (the secret is shown once).", no_args_is_help=True)
holds = typer.Typer(help="Legal holds and safety investigations.", no_args_is_help=True)
flagged = typer.Typer(help="Flagged content review (trust & safety; every read audited).",
                      no_args_is_help=True)
audit = typer.Typer(help="The keyed, hash-chained audit log and its signed checkpoints.",
                   no_args_is_help=True)
users = typer.Typer(help="People who use the console and the admin API.", no_args_is_help=True)
tokens = typer.Typer(help="Admin API tokens (shown once).", no_args_is_help=True)


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


def org_line(org: Any) -> str:
    zdr = org.zdr_status + (" (in force)" if org.zdr_in_force else "")
    hipaa = f"HIPAA (BAA {org.baa_version})" if org.hipaa else "no HIPAA"
    deleted = f"  DELETED, restorable until {org.restorable_until:%Y-%m-%d %H:%M}Z" \
        if org.deleted_at else ""
    return (f"{org.name}  plan={org.plan}  zdr={zdr}  {hipaa}  retention: {org.retention}"
            f"  id={org.id}{deleted}")


# ---------------------------------------------------------------------------------------- init
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


# ---------------------------------------------------------------------------------------- orgs
@orgs.command("create")
@one_line_errors
def orgs_create(
    name: str,
    plan: Annotated[str, typer.Option("--plan", help="api|enterprise|team|free|pro|max")],
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Create an organization."""
    plane, actor = session(home, as_user)
    show(plane.orgs.create(actor, name, plan), as_json, org_line)


@orgs.command("list")
@one_line_errors
def orgs_list(
    include_deleted: Annotated[bool, typer.Option("--include-deleted")] = False,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """List organizations (org people see only their own)."""
    plane, actor = session(home, as_user)
    show(plane.orgs.list(actor, include_deleted=include_deleted), as_json, org_line)


@orgs.command("show")
@one_line_errors
def orgs_show(
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Show what is in force for an organization."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.orgs.show(actor, ref), as_json, org_line)


@orgs.command("zdr-history")
@one_line_errors
def orgs_zdr_history(
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """The organization's ZDR requests and decisions."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.zdr_history(actor, ref), as_json,
         lambda r: f"{r.requested_at:%Y-%m-%d %H:%M}Z  {r.status}  by {r.requested_by}"
                   f"  decided by {r.decided_by or '-'}")


@orgs.command("request-zdr")
@one_line_errors
def orgs_request_zdr(
    name: OrgName = None, org_id: OrgIdOption = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Ask for zero data retention (an org owner/admin; refused for consumer plans)."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.request_zdr(actor, ref, reason), as_json, org_line)


@orgs.command("approve-zdr")
@one_line_errors
def orgs_approve_zdr(
    name: OrgName = None, org_id: OrgIdOption = None,
    effective_at: Annotated[datetime | None, typer.Option(
        "--effective-at", help="When ZDR comes into force (default: now).")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Approve a ZDR request (a reviewer who is not the requester)."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.approve_zdr(actor, ref, effective_at, note), as_json, org_line)


@orgs.command("deny-zdr")
@one_line_errors
def orgs_deny_zdr(
    name: OrgName = None, org_id: OrgIdOption = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Deny a ZDR request."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.deny_zdr(actor, ref, note), as_json, org_line)


@orgs.command("revoke-zdr")
@one_line_errors
def orgs_revoke_zdr(
    name: OrgName = None, org_id: OrgIdOption = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Revoke an approved ZDR arrangement."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.revoke_zdr(actor, ref, note), as_json, org_line)


@orgs.command("accept-baa")
@one_line_errors
def orgs_accept_baa(
    version: Annotated[str, typer.Option("--version", help="The BAA version read.")],
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Accept a BAA version: HIPAA on, permanently."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.accept_baa(actor, ref, version), as_json, org_line)


@orgs.command("set-retention")
@one_line_errors
def orgs_set_retention(
    days: Annotated[int, typer.Option("--days")],
    name: OrgName = None, org_id: OrgIdOption = None,
    confirm_shorten: Annotated[bool, typer.Option(
        "--confirm-shorten", help="Shortening deletes older content at once: confirm it.")] = False,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Set an enterprise organization's custom retention period (days >= 30)."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.arrangements.set_retention(actor, ref, days, confirm_shorten=confirm_shorten),
         as_json, org_line)


@orgs.command("delete")
@one_line_errors
def orgs_delete(
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Delete an organization (restorable for 7 days, then its content is erased)."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.orgs.delete(actor, ref), as_json, org_line)


@orgs.command("restore")
@one_line_errors
def orgs_restore(
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Restore a deleted organization within its restore window."""
    plane, actor = session(home, as_user)
    ref = one_org(name, org_id)
    show(plane.orgs.restore(actor, ref), as_json, org_line)


def member_line(member: Any) -> str:
    return f"{member.email}  {', '.join(member.roles)}"


@orgs.command("add-member")
@one_line_errors
def orgs_add_member(
    email: Annotated[str, typer.Option("--email", help="The person's email address.")],
    role: Annotated[str, typer.Option("--role", help="org_owner|org_admin|org_member")],
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Give someone a role in the organization (an account without a password is made if the
    email has none; provider staff cannot be added)."""
    ref = one_org(name, org_id)
    plane, actor = session(home, as_user)
    show(plane.accounts.add_member(actor, ref, email, role), as_json, member_line)


@orgs.command("members")
@one_line_errors
def orgs_members(
    name: OrgName = None, org_id: OrgIdOption = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """List the organization's people and their roles in it."""
    ref = one_org(name, org_id)
    plane, actor = session(home, as_user)
    show(plane.accounts.members(actor, ref), as_json, member_line)


# ---------------------------------------------------------------------------------- workspaces
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


# ---------------------------------------------------------------------------------------- keys
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


# --------------------------------------------------------------------------- holds and flagged
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


# --------------------------------------------------------------------------------------- audit
@audit.command("verify")
@one_line_errors
def audit_verify(
    expect_head: Annotated[str | None, typer.Option(
        "--expect-head", help="A head printed earlier (SEQ:LINK): also catches a chain cut "
        "short or rewritten since.")] = None,
    checkpoint: Annotated[list[Path] | None, typer.Option(
        "--checkpoint", help="A signed checkpoint file kept elsewhere (repeatable).")] = None,
    public_key: Annotated[list[Path] | None, typer.Option(
        "--public-key", help="A PEM public key to trust for checkpoints (repeatable).")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Recompute the keyed chain and check it against every signed checkpoint: name the first
    edited, inserted, deleted or reordered entry, or after which entry it was rewritten."""
    plane, actor = session(home, as_user)
    files = [(path.name, path.read_bytes()) for path in checkpoint or []]
    pems = [path.read_text(encoding="ascii") for path in public_key or []]
    report = plane.audit.verify(actor, expect_head, files, pems)
    if as_json:
        print_json(as_dict(report))
    elif report.ok:
        checked = f"; {report.anchors} signed checkpoints match" if report.anchors else ""
        typer.echo(f"audit chain OK: {report.entries} entries, head "
                   f"{report.entries}:{report.head}{checked}")
        if not report.keyed or not report.key_checked:
            typer.echo(f"note: {report.message}")
    if not report.ok:
        fail(report.message)


@audit.command("checkpoint")
@one_line_errors
def audit_checkpoint(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the signed checkpoint to this file (keep it elsewhere).")
    ] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Sign the audit chain's head now with the deployment's signing key."""
    plane, actor = session(home, as_user)
    checkpoint, pem = plane.audit.checkpoint(actor)
    if out is not None:
        out.write_bytes(checkpoint.document(pem))
    if as_json:
        print_json(checkpoint.payload())
    else:
        typer.echo(f"checkpoint {checkpoint.id}: entry {checkpoint.entry_seq}, head "
                   f"{checkpoint.entry_seq}:{checkpoint.head}, signed by key "
                   f"{checkpoint.signing_key_id}" + (f"; written to {out}" if out else ""))


@audit.command("list")
@one_line_errors
def audit_list(
    org: OrgOption = None, org_id: OrgIdOption = None,
    after: Annotated[int, typer.Option("--after", help="Entries after this sequence number.")] = 0,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """List audit entries."""
    plane, actor = session(home, as_user)
    ref = org_ref(org, org_id, required=False)
    show(plane.audit.list(actor, ref, after, limit), as_json,
         lambda e: f"{e.seq}  {e.at:%Y-%m-%d %H:%M:%S}Z  {e.actor} ({e.role})  {e.action}"
                   f"  {e.target or ''}")


# ------------------------------------------------------------------------------ users, tokens
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
    app.command("init")(init)
    for group, name in ((orgs, "orgs"), (workspaces, "workspaces"), (keys, "keys"),
                        (holds, "holds"), (flagged, "flagged"), (audit, "audit"),
                        (users, "users"), (tokens, "tokens")):
        app.add_typer(group, name=name)
