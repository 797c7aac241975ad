"""`zdr verify`: check that a deployment kept only what its decisions allow (docs/DESIGN.md §6)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from zdr.cli.common import HOME_HELP, JSON_HELP, fail, print_json

EXIT_VIOLATIONS = 1
EXIT_CANNOT_CHECK = 2


def _read_canary_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        fail(f"cannot read canary file {path}: {error.strerror}", EXIT_CANNOT_CHECK)
    return [line for line in (raw.strip() for raw in lines) if line]


def verify(
    canary: Annotated[list[str] | None, typer.Option(
        "--canary", help="A string that must appear nowhere (repeatable).")] = None,
    canary_file: Annotated[Path | None, typer.Option(
        help="A file with one canary per line.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    home: Annotated[Path | None, typer.Option(help=HOME_HELP)] = None,
    scan_path: Annotated[list[Path] | None, typer.Option(
        help="Another file or folder to scan for canaries (repeatable), e.g. captured "
             "process output.")] = None,
    pg_data_dir: Annotated[Path | None, typer.Option(
        help="PostgreSQL data directory to scan byte-wise (else tables are searched by SQL).")]
        = None,
    at: Annotated[datetime | None, typer.Option(
        help="Check expiry as of this instant (ISO 8601, UTC if no zone). Default: now.")]
        = None,
    audit_head: Annotated[str | None, typer.Option(
        help="The audit head hash an earlier verify printed: also catches deleted newest "
             "entries.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines on standard error.")] = False,
) -> None:
    """Check a deployment against its promises; exit 1 on any violation, 2 if it cannot look.

    Checks: no content kept for ZDR exchanges; nothing past its expiry (plus grace) unless held;
    nothing under destroyed keys; an intact audit chain; records that match their decisions;
    secrets stored only as hashes; with --canary, no canary in the database files, WAL, logs,
    temp folder or home."""
    from datetime import UTC

    from zdr.catalog import CatalogError
    from zdr.settings import load_settings
    from zdr.verify import VerifyError, VerifyOptions, render_text, run_verify
    from zdr.verify.canary_forms import MIN_CANARY_LENGTH

    canaries = [*(canary or []), *(_read_canary_file(canary_file) if canary_file else [])]
    short = [c for c in canaries if len(c) < MIN_CANARY_LENGTH]
    if short:
        fail(f"canaries must have at least {MIN_CANARY_LENGTH} characters "
             f"({len(short)} too short)", EXIT_CANNOT_CHECK)

    def progress(message: str) -> None:
        if not quiet:
            typer.echo(f"zdr verify: {message}", err=True)

    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        settings = load_settings(home=home)
        options = VerifyOptions(
            canaries=tuple(dict.fromkeys(canaries)), extra_paths=tuple(scan_path or ()),
            exclude_paths=(canary_file,) if canary_file else (),
            pg_data_dir=pg_data_dir, at=at, audit_head=audit_head, progress=progress)
        report = run_verify(settings, options)
    except (VerifyError, CatalogError) as error:
        fail(str(error), EXIT_CANNOT_CHECK)
    except Exception as error:  # noqa: BLE001 - any failure to look is "cannot check", not clean
        fail(f"verification could not run: {type(error).__name__}", EXIT_CANNOT_CHECK)
    if as_json:
        print_json(report.as_json())
    else:
        typer.echo(render_text(report))
    if not report.ok:
        raise typer.Exit(EXIT_VIOLATIONS)


def register(app: typer.Typer) -> None:
    """Add `zdr verify` to `app`."""
    app.command(name="verify", help=" ".join((verify.__doc__ or "").split()))(verify)
