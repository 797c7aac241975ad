"""`zdr audit`: the keyed, hash-chained audit log and its signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zdr.cli.common import fail, print_json
from zdr.cli.control_session import (
    AsUser,
    Home,
    Json,
    OrgIdOption,
    OrgOption,
    one_line_errors,
    org_ref,
    session,
    show,
)
from zdr.control.views import as_dict

audit = typer.Typer(help="The keyed, hash-chained audit log and its signed checkpoints.",
                   no_args_is_help=True)


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


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(audit, name="audit")
