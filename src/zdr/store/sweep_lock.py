"""`SweepLock`: only one process of a machine sweeps a SQLite store.

`zdr serve --workers N` starts N worker processes and each builds a `PurgeSweeper`; on SQLite they
would all purge the same file (harmless, purge is idempotent, but N times the write-lock traffic).
Each sweeper asks `try_acquire()` before every round: an exclusive, non-blocking `flock` on
`HOME/purge.lock`. The first process keeps the lock for its life; the others skip their rounds and
keep asking, so when the holder dies (the kernel drops its lock) another worker takes over within
one interval. PostgreSQL needs none of this: `zdr.store.purge` takes an advisory lock there.

If the lock file cannot be opened, the round runs anyway (several sweepers are only wasteful;
no sweeper at all would let records outlive their period).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("zdr.store.sweep_lock")


class SweepLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """True when this process holds the lock (now or already); never waits."""
        with self._mutex:
            if self._fd is not None:
                return True
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                log.warning("purge lock unavailable (%s): sweeping without it",
                            type(error).__name__)
                return True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        with self._mutex:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
