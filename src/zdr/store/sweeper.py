"""`PurgeSweeper`: the background thread that purges (and erases deleted orgs) every interval.

    sweeper = PurgeSweeper.from_settings(engine, keyring, settings, catalog)
    sweeper.start()     # e.g. in the gateway's lifespan (interval: settings.purge_interval_seconds)
    ...
    sweeper.stop()

A thread, not an asyncio task: purge is blocking database work, and a thread keeps it off the
event loop without borrowing the default executor. On PostgreSQL only one instance purges at a
time (advisory lock in `zdr.store.purge`); on SQLite `from_settings` adds a `SweepLock` on
`HOME/purge.lock`, so of several worker processes only one sweeps (`gate`: a round runs only when
it returns True). Errors are logged (type only) and retried next round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from zdr.catalog import Catalog
from zdr.settings import Settings
from zdr.store.crypto import Keyring
from zdr.store.deletion import erase_due, receipts_owed
from zdr.store.erasure_records import ErasureReport
from zdr.store.purge import PurgeReport, purge
from zdr.store.sweep_lock import SweepLock

log = logging.getLogger("zdr.store.sweeper")


def _now() -> datetime:
    return datetime.now(UTC)


class PurgeSweeper:
    def __init__(
        self,
        engine: Engine,
        interval_seconds: float,
        *,
        keyring: Keyring | None = None,
        restore_days: int = 7,
        clock: Callable[[], datetime] = _now,
        lock: SweepLock | None = None,
        on_erased: Callable[[ErasureReport], None] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval_seconds
        self.keyring = keyring
        self.restore_days = restore_days
        self.clock = clock
        self.lock = lock
        self.on_erased = on_erased    # issues each owed erasure receipt (wiring)
        self.runs = 0
        self.last_report: PurgeReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, engine: Engine, keyring: Keyring | None, settings: Settings, catalog: Catalog,
        on_erased: Callable[[ErasureReport], None] | None = None,
    ) -> PurgeSweeper:
        """The sweeper the gateway starts: `purge_interval_seconds`, the catalog's window, and on
        SQLite the home's `purge.lock` (one sweeping process per machine)."""
        lock = SweepLock(settings.home / "purge.lock") if engine.dialect.name == "sqlite" \
            else None
        return cls(engine, settings.purge_interval_seconds, keyring=keyring,
                   restore_days=catalog.retention.deletion_restore_days, lock=lock,
                   on_erased=on_erased)

    def run_once(self) -> PurgeReport:
        now = self.clock()
        if self.keyring is not None:
            erase_due(self.engine, self.keyring, self.restore_days, now)
        if self.on_erased is not None:      # this run's receipts, and any an earlier one owes
            for owed in receipts_owed(self.engine):
                try:
                    self.on_erased(owed)
                except Exception as error:  # noqa: BLE001 - still owed: the next run retries
                    log.error("erasure receipt not issued: %s", type(error).__name__)
        report = purge(self.engine, now)
        self.last_report = report
        self.runs += 1
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lock is None or self.lock.try_acquire():
                    self.run_once()
            except Exception as error:  # noqa: BLE001 - keep sweeping; the next round retries
                log.error("purge run failed: %s", type(error).__name__)
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="zdr-purge", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.lock is not None:
            self.lock.release()
