"""Run every check of `zdr verify` against one deployment and collect the report."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from zdr.catalog import load_catalog
from zdr.control.audit import ChainKey
from zdr.proof.signing import SigningKeyError, load_signer
from zdr.settings import Settings
from zdr.store.crypto import MasterKeyError, load_master_key
from zdr.store.db import engine_for, read_only
from zdr.store.tables import metadata
from zdr.verify.catalogs import CatalogLibrary
from zdr.verify.checks import STORE_CHECKS, StoreContext
from zdr.verify.report import CheckResult, Report
from zdr.verify.scan import scan_files, scan_roots, sqlite_files
from zdr.verify.scan_db import scan_tables


class VerifyError(RuntimeError):
    """Verify could not look (no database, no schema): not a verdict either way."""


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    canaries: tuple[str, ...] = ()
    extra_paths: tuple[Path, ...] = ()
    exclude_paths: tuple[Path, ...] = ()  # e.g. the canary file itself
    pg_data_dir: Path | None = None
    at: datetime | None = None            # check as of this instant (default: now)
    archive_dir: Path | None = None       # old catalog versions (default: HOME/catalogs)
    audit_head: str | None = None         # audit head hash printed by an earlier verification
    org_id: str | None = None             # only this organization's rows (signed statements)
    progress: Callable[[str], None] = field(default=lambda _message: None)


def open_engine(settings: Settings) -> Engine:
    """A read-only use of the deployment's database; never creates a missing SQLite file."""
    url = settings.database_url
    for path in sqlite_files(url)[:1]:
        if not path.is_file():
            raise VerifyError(f"no database file at {path} (run `zdr init` first?)")
    engine = engine_for(url)
    with engine.connect() as conn:
        present = set(inspect(read_only(conn)).get_table_names())
    missing = set(metadata.tables) - present
    if missing:
        engine.dispose()
        raise VerifyError(f"the database lacks tables {', '.join(sorted(missing))}; "
                          "is it a zdr store?")
    return engine


def run_verify(settings: Settings, options: VerifyOptions, engine: Engine | None = None) -> Report:
    own_engine = engine is None
    engine = engine or open_engine(settings)
    try:
        now = (options.at or datetime.now(UTC)).astimezone(UTC)
        catalog = load_catalog(settings.catalog_path)
        library = CatalogLibrary.discover(settings.catalog_path,
                                          options.archive_dir or settings.home / "catalogs")
        chain_key, pems = _audit_keys(settings)
        context = StoreContext(engine=engine, now=now, catalog=catalog, library=library,
                               audit_head=options.audit_head, chain_key=chain_key,
                               signing_pems=pems, org_id=options.org_id)
        report = Report(database=make_url(settings.database_url).render_as_string(
            hide_password=True), checked_at=now.isoformat(timespec="seconds"))
        for check in STORE_CHECKS:
            options.progress(f"check {check.__name__.removeprefix('check_')}")
            report.checks.append(check(context))
        for problem in library.problems:
            report.checks[-1].notes.append(f"catalog not loaded: {problem}")
        if options.canaries:
            report.checks.append(_canary_check(settings, options, engine, report))
        return report
    finally:
        if own_engine:
            engine.dispose()


def _audit_keys(settings: Settings) -> tuple[ChainKey | None, tuple[str, ...]]:
    """The audit chain's key and this home's public signing key, when they load (verify then
    checks the links and the checkpoints; without them, what it can)."""
    chain_key: ChainKey | None = None
    pems: tuple[str, ...] = ()
    with contextlib.suppress(MasterKeyError):
        chain_key = ChainKey.from_master_key(load_master_key(settings))
    with contextlib.suppress(SigningKeyError):
        pems = (load_signer(settings, create=False).public_pem,)
    return chain_key, pems


def _canary_check(
    settings: Settings, options: VerifyOptions, engine: Engine, report: Report
) -> CheckResult:
    canaries = list(options.canaries)
    result = CheckResult("canaries", "No canary in database files, logs, temp or home")
    roots = scan_roots(settings, options.extra_paths)
    if options.pg_data_dir is not None:
        roots.insert(0, options.pg_data_dir)
    totals = scan_files(canaries, roots, result, options.progress, options.exclude_paths)
    if engine.dialect.name != "sqlite" and options.pg_data_dir is None:
        options.progress("searching the database tables (no --pg-data-dir given)")
        scan_tables(engine, canaries, result)
        result.notes.append("database searched through SQL; pass --pg-data-dir to scan its "
                            "files (WAL, dead tuples) byte-wise")
    report.canaries = len(canaries)
    report.files_scanned = totals.files
    report.bytes_scanned = totals.bytes
    result.notes.append(f"{len(canaries)} canaries in {totals.files} files, "
                        f"{totals.bytes} bytes")
    return result
