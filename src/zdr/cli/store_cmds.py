"""Store commands: `zdr purge [--dry-run] [--json]`.

`zdr purge` does once what the gateway's background sweeper does every
`purge_interval_seconds`: it erases organizations past their restore window (when the master key
is available) and removes every expired record that no hold covers. Progress goes to standard
error as it happens; the summary to standard output (JSON with `--json`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from zdr.cli.common import HOME_HELP, JSON_HELP, fail, print_json

Home = Annotated[Path | None, typer.Option("--home", help=HOME_HELP)]


def _summary(report: dict[str, Any], erased: list[str]) -> str:
    verb = "would remove" if report["dry_run"] else "removed"
    lines = [f"purge {verb} {report['total']} expired record(s) in {report['seconds']:.2f}s"]
    for record_class, n in report["deleted"].items():
        held = report["held_expired"].get(record_class, 0)
        lines.append(f"  {record_class:<18} {n:>10}   (expired but held: {held})")
    if report["dropped_partitions"]:
        lines.append(f"  partitions {'to drop' if report['dry_run'] else 'dropped'}: "
                     + ", ".join(report["dropped_partitions"]))
    if erased:
        lines.append(f"  organizations erased: {len(erased)}")
    lines.append(f"  purge lag: {report['lag_seconds']:.0f}s")
    if report["skipped"]:
        lines.append(f"  skipped: {report['skipped']}")
    return "\n".join(lines)


def purge_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; delete nothing.")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    home: Home = None,
) -> None:
    """Remove expired records that no hold covers (and erase orgs past their restore window)."""
    from zdr.catalog import CatalogError, load_catalog
    from zdr.settings import load_settings
    from zdr.store.crypto import Keyring, MasterKeyError, load_master_key
    from zdr.store.db import SchemaTooNew, engine_for, migrate
    from zdr.store.deletion import due_for_erasure, erase_due, receipts_owed
    from zdr.store.purge import purge

    settings = load_settings(home=home)
    if not settings.db_url and not settings.sqlite_path.exists():
        fail(f"no store at {settings.sqlite_path}: run `zdr init` first (or set ZDR_DB_URL)")
    engine = engine_for(settings.database_url)
    try:
        try:
            migrate(engine)
        except SchemaTooNew as error:
            fail(str(error))
        now = datetime.now(UTC)
        erased: list[str] = []
        try:
            restore_days = load_catalog(settings.catalog_path).retention.deletion_restore_days
        except CatalogError as error:
            fail(f"the catalog is invalid: {error}")
        if dry_run:
            with engine.connect() as conn:
                erased = due_for_erasure(conn, restore_days, now)
        else:
            try:
                keyring = Keyring(engine, load_master_key(settings))
            except MasterKeyError as error:
                if not as_json:
                    typer.echo(f"note: organizations were not erased: {error}", err=True)
            else:
                erased = [r.org_id for r in erase_due(engine, keyring, restore_days, now)]
            _issue_receipts(settings, engine, receipts_owed(engine), as_json)

        def progress(record_class: str, done: int) -> None:
            if done and not as_json:
                typer.echo(f"  {'counted' if dry_run else 'purged'} {record_class}: {done}",
                           err=True)

        report = purge(engine, now, dry_run=dry_run, progress=progress).as_json()
    finally:
        engine.dispose()
    if as_json:
        print_json({**report, "erased_orgs": erased})
    else:
        typer.echo(_summary(report, erased))


def _issue_receipts(settings: Any, engine: Any, reports: list[Any], as_json: bool) -> None:
    """A signed erasure receipt per owed erasure: this run's, and any whose process died before
    its receipt (in the attestation log: `zdr attest log`)."""
    if not reports:
        return
    from zdr.control.plane import build_control_plane

    evidence = build_control_plane(settings, engine).evidence
    for report in reports:
        issued = evidence.org_erasure_receipt(report)
        if not as_json and issued.entry is not None:
            typer.echo(f"erasure receipt #{issued.entry.seq} for org {report.org_id} "
                       "(zdr attest show to write it to a file)", err=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("purge")(purge_command)
