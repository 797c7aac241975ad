"""Canary strings: unique markers put into requests and upstream outputs, then searched for in
every place the system writes (database files and their WAL, logs, temp files, error bodies)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path


def new_canary(label: str = "CANARY") -> str:
    """A marker no real text contains, e.g. `ZDRCANARY-INPUT-3f9a1c0e7b2d4a65`."""
    return f"ZDRCANARY-{label.upper()}-{secrets.token_hex(8)}"


def files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(p for p in sorted(root.rglob("*")) if p.is_file())
    return found


def occurrences(canaries: Iterable[str], paths: Iterable[Path]) -> list[tuple[str, Path]]:
    """(canary, file) for every canary found in a file, as UTF-8 or UTF-16 bytes."""
    needles = [(c, (c.encode(), c.encode("utf-16-le"))) for c in canaries]
    hits: list[tuple[str, Path]] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for canary, forms in needles:
            if any(form in data for form in forms):
                hits.append((canary, path))
    return hits


def in_bytes(canaries: Iterable[str], data: bytes) -> list[str]:
    return [c for c in canaries if c.encode() in data]
