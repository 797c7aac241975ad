"""`FixedClock`: a `zdr.ports.Clock` that always says the same time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at
