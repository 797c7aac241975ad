"""`zdr orgs`: organizations, their members and arrangements (the ZDR lifecycle, HIPAA,
retention)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from zdr.cli.control_session import (
    AsUser,
    Home,
    Json,
    OrgIdOption,
    OrgName,
    one_line_errors,
    one_org,
    session,
    show,
)

orgs = typer.Typer(help="Organizations and their arrangements (ZDR, HIPAA, retention).",
                   no_args_is_help=True)


def org_line(org: Any) -> str:
    zdr = org.zdr_status + (" (in force)" if org.zdr_in_force else "")
    hipaa = f"HIPAA (BAA {org.baa_version})" if org.hipaa else "no HIPAA"
    deleted = f"  DELETED, restorable until {org.restorable_until:%Y-%m-%d %H:%M}Z" \
        if org.deleted_at else ""
    return (f"{org.name}  plan={org.plan}  zdr={zdr}  {hipaa}  retention: {org.retention}"
            f"  id={org.id}{deleted}")


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


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(orgs, name="orgs")
