"""Byte-wise canary scan of every place the system writes: database files (SQLite main file, WAL,
shared memory, rollback journal; a PostgreSQL data directory when given), log files, the temp folder
and the home. What is found is named by file, byte offset, canary number and form — never shown."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from zdr.settings import Settings
from zdr.verify.canary_forms import canary_forms
from zdr.verify.matcher import Matcher
from zdr.verify.report import CheckResult

CHUNK = 4 * 1024 * 1024
PROGRESS_BYTES = 8 * 1024 * 1024
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

Progress = Callable[[str], None]


@dataclass(slots=True)
class ScanTotals:
    files: int = 0
    bytes: int = 0


def sqlite_files(database_url: str) -> list[Path]:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []
    main = Path(url.database)
    return [main, *(Path(f"{main}{suffix}") for suffix in SQLITE_SIDE_FILES)]


def scan_roots(settings: Settings, extra: Iterable[Path] = ()) -> list[Path]:
    """Files and folders to scan: the database files, the log file's folder, temp, home, extras."""
    return [*sqlite_files(settings.database_url), settings.log_file, settings.log_file.parent,
            settings.tmp_dir, settings.home, *extra]


def walk_files(roots: Iterable[Path], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Regular files under `roots`, each once, symlinks not followed, `exclude` left out."""
    seen: set[Path] = {path.resolve() for path in exclude}
    for root in roots:
        if root.is_file() and not root.is_symlink():
            candidates: Iterable[Path] = [root]
        elif root.is_dir():
            candidates = (Path(folder) / name
                          for folder, _, names in os.walk(root, followlinks=False)
                          for name in sorted(names))
        else:
            continue
        for path in candidates:
            resolved = path.resolve()
            if resolved in seen or path.is_symlink() or not path.is_file():
                continue
            seen.add(resolved)
            yield path


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            yield block


def scan_files(
    canaries: list[str], roots: Iterable[Path], result: CheckResult, progress: Progress,
    exclude: Iterable[Path] = (),
) -> ScanTotals:
    """Add one violation per (file, canary) found; return what was read."""
    owners: dict[bytes, tuple[int, str]] = {}
    for number, canary in enumerate(canaries, start=1):
        for form, pattern in canary_forms(canary).items():
            owners.setdefault(pattern, (number, form))
    matcher = Matcher(owners)
    totals = ScanTotals()
    for path in walk_files(roots, exclude):
        try:
            size = path.stat().st_size
            if size >= PROGRESS_BYTES:
                progress(f"scanning {path} ({size // (1024 * 1024)} MiB)")
            found: dict[int, tuple[int, int, set[str]]] = {}     # canary -> first, count, forms
            for hit in matcher.scan(_chunks(path)):
                number, form = owners[hit.pattern]
                first, count, forms = found.get(number, (hit.offset, 0, set()))
                found[number] = (min(first, hit.offset), count + 1, forms | {form})
        except FileNotFoundError:
            continue                   # gone since listed (e.g. a WAL checkpointed away)
        except OSError as error:
            result.add(str(path), f"cannot be scanned ({error.strerror}), so it may hold a canary")
            continue
        totals.files += 1
        totals.bytes += size
        result.examined += 1
        for number, (first, count, forms) in sorted(found.items()):
            result.add(f"{path}@{first}", f"canary #{number} found {count} time(s) in this "
                                          f"file ({', '.join(sorted(forms))})")
    return totals
