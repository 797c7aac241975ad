"""Levers on a SQLite store under a running gateway (Linux)."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def exchange(first: Path, second: Path) -> None:
    """Swap what two paths name, atomically (renameat2 RENAME_EXCHANGE): no moment when either
    path is free for a connection to create a new, empty database there."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second),
                      RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(first))


@contextlib.contextmanager
def replaced_by_a_directory(store: Path) -> Iterator[Path]:
    """While inside: a directory stands at `store`'s path (the file is kept beside it, and put
    back on exit, atomically both ways). Its -wal and -shm files stay where they are."""
    aside = store.with_name(store.name + ".aside")
    aside.mkdir()
    exchange(store, aside)
    try:
        yield aside
    finally:
        exchange(store, aside)
        aside.rmdir()
