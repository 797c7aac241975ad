"""`SystemClock`: the real `zdr.ports.Clock`, the time in UTC (twin: `zdr.inmemory.FixedClock`)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
