"""`zdr attest …`: signed, content-free evidence a customer or auditor checks offline.

Issuing (`create`, `prove`, `rotate-key`, `log`, `show`) needs the home; checking (`verify`,
`verify-proof`) needs only the file and, to know who signed it, the deployment's public key
(`zdr attest public-key`, or `GET /.well-known/zdr/attestation-key`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from zdr.cli.common import fail, print_json
from zdr.cli.control_session import AsUser, Home, Json, one_line_errors, session

attest = typer.Typer(help="Signed statements, inclusion proofs and receipts anyone can check "
                          "offline.", no_args_is_help=True)

PublicKeys = Annotated[list[Path] | None, typer.Option(
    "--public-key", help="A PEM public key to trust (repeatable); without it the key in the "
    "file is used, which shows the file is intact but not who signed it.")]
SETTLE = timedelta(minutes=5)     # final metadata of an exchange arrives within seconds


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or instant; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"not an ISO 8601 time: {text[:40]!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _pems(paths: list[Path] | None) -> list[str] | None:
    return None if not paths else [p.read_text(encoding="ascii") for p in paths]


def _check(data: bytes, paths: list[Path] | None, as_json: bool, want: str | None) -> None:
    from zdr.proof.envelope import InvalidDocument
    from zdr.proof.verify import describe, verify_file

    try:
        result = verify_file(data, _pems(paths))
    except InvalidDocument as error:
        fail(f"does not verify: {error}")
    if want is not None and result.kind != want:
        fail(f"does not verify: it is a {result.kind}, not a {want}")
    if as_json:
        print_json({"valid": True, "kind": result.kind, "key_id": result.key_id,
                    "pinned": result.pinned, "hash": result.digest, "payload": result.payload})
        return
    for line in describe(result):
        typer.echo(line)
    for note in result.notes:
        typer.echo(f"note: {note}")


@attest.command("verify")
@one_line_errors
def verify(
    file: Path, public_key: PublicKeys = None, as_json: Json = False,
) -> None:
    """Check a signed statement, receipt, proof or checkpoint offline; print what it states."""
    _check(file.read_bytes(), public_key, as_json, None)


@attest.command("verify-proof")
@one_line_errors
def verify_proof(
    proof: Path, public_key: PublicKeys = None, as_json: Json = False,
) -> None:
    """Check an inclusion proof offline: its statement's signature and the record's path."""
    _check(proof.read_bytes(), public_key, as_json, "zdr.inclusion-proof/v1")


@attest.command("create")
@one_line_errors
def create(
    org: Annotated[str, typer.Option("--org", help="The organization (name or id).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed statement.")],
    since: Annotated[str | None, typer.Option(
        "--since", help="Start of the period (ISO 8601; default: 30 days before --until).")]
    = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="End of the period, exclusive (default: five minutes ago).")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Issue a signed statement of what was kept of one organization's traffic in a period."""
    end = parse_time(until) if until else datetime.now(UTC) - SETTLE
    start = parse_time(since) if since else end - timedelta(days=30)
    if end <= start:
        fail("--until must be after --since")
    plane, actor = session(home, as_user)
    issued = plane.evidence.issue_statement(actor, org, start, end)
    out.write_bytes(issued.document)
    if as_json:
        print_json(issued.payload)
        return
    tree = issued.payload["metadata_tree"]
    typer.echo(f"statement #{issued.payload['log']['seq']} for {org}: "
               f"{tree['leaves']} metadata records, root {tree['root']}; written to {out}")


@attest.command("prove")
@one_line_errors
def prove(
    request_id: Annotated[str, typer.Option("--request-id", help="The exchange's request id.")],
    attestation: Annotated[Path, typer.Option("--attestation", help="The signed statement.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the proof.")],
    home: Home = None, as_user: AsUser = None,
) -> None:
    """Write the inclusion proof of one exchange's metadata record in a statement."""
    plane, actor = session(home, as_user)
    issued = plane.evidence.prove(actor, attestation.read_bytes(), request_id)
    out.write_bytes(issued.document)
    typer.echo(f"proof: record {issued.payload['leaf_index'] + 1} of "
               f"{issued.payload['tree_size']}, {len(issued.payload['audit_path'])} hashes; "
               f"written to {out}")


@attest.command("public-key")
@one_line_errors
def public_key(
    every: Annotated[bool, typer.Option("--all", help="Every key ever used (retired too).")]
    = False,
    home: Home = None, as_json: Json = False,
) -> None:
    """Print the deployment's public signing key (PEM), to pin when verifying."""
    plane, _actor = session(home, None)
    listed = plane.evidence.public_keys()
    current = plane.evidence.signer()
    if as_json:
        print_json([k.as_json() for k in listed] if every else
                   {"key_id": current.key_id, "pem": current.public_pem})
    elif every:
        for key in listed:
            state = "in use" if key.retired_at is None else f"retired {key.retired_at:%Y-%m-%d}"
            typer.echo(f"# key {key.key_id} ({state})\n{key.pem}")
    else:
        typer.echo(current.public_pem, nl=False)


@attest.command("rotate-key")
@one_line_errors
def rotate_key(home: Home = None, as_user: AsUser = None) -> None:
    """Replace the signing key; the old public key stays listed (what it signed verifies)."""
    from zdr.proof.signing import rotate_key_file
    from zdr.settings import load_settings

    plane, actor = session(home, as_user)
    plane.ctx.guard(actor, "evidence.rotate_key", None)
    old, new = rotate_key_file(load_settings(home=home))
    plane.evidence.adopt_key(actor, new)
    typer.echo(f"signing key {new.key_id} in use; {old.key_id} retired (still listed)")


@attest.command("new-key")
def new_key() -> None:
    """Print a new signing key (base64 seed) for ZDR_SIGNING_KEY; stores nothing."""
    from zdr.proof.signing import new_key_text

    typer.echo(new_key_text())


@attest.command("log")
@one_line_errors
def log(
    org: Annotated[str | None, typer.Option("--org")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    check: Annotated[bool, typer.Option(
        "--verify", help="Check every document's signature and link to the one before.")]
    = False,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """The attestation log: statements and receipts, newest first."""
    plane, actor = session(home, as_user)
    if check:
        report = plane.evidence.verify_log(actor)
        if not report.ok:
            fail(report.message)
        typer.echo(f"attestation log OK: {report.entries} documents, head {report.head}")
        return
    entries = plane.evidence.log(actor, org, limit)
    if as_json:
        print_json([e.summary() for e in entries])
        return
    for e in entries:
        typer.echo(f"#{e.seq}  {e.issued_at:%Y-%m-%d %H:%M:%S}Z  {e.kind:<10} "
                   f"org={e.org_id}  {e.hash}")


@attest.command("show")
@one_line_errors
def show(
    seq: int,
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed document.")],
    home: Home = None, as_user: AsUser = None,
) -> None:
    """Write a logged statement or receipt to a file."""
    plane, actor = session(home, as_user)
    entry = plane.evidence.document(actor, seq)
    out.write_text(entry.document, encoding="utf-8")
    typer.echo(f"{entry.kind} #{entry.seq} written to {out}")


@one_line_errors
def erase(
    org: Annotated[str, typer.Option("--org", help="The organization (name or id).")],
    end_user: Annotated[str, typer.Option(
        "--end-user", help="The end user: the metadata.user_id the client sends (for Claude "
        "Code, its JSON string or the account / device id in it).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the signed erasure receipt to this file.")] = None,
    home: Home = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Erase one end user's content and feature artifacts in an org; issue a signed receipt."""
    plane, actor = session(home, as_user)
    issued = plane.evidence.erase_end_user(actor, org, end_user)
    if out is not None:
        out.write_bytes(issued.document)
    if as_json:
        print_json(issued.payload)
        return
    deleted = ", ".join(f"{k} {v}" for k, v in issued.payload["deleted"].items())
    seq = issued.entry.seq if issued.entry is not None else "?"
    typer.echo(f"erased end user in {org}: {issued.payload['exchanges']} exchanges; deleted "
               f"{deleted}; receipt #{seq}" + (f" written to {out}" if out else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(attest, name="attest")
    app.command("erase")(erase)
