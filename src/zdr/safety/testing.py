"""An in-memory `SafetySink` for tests (ours and users'): keeps what the pipeline records."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent


@dataclass
class InMemorySafetySink:
    """Classifier results by exchange id, and flagged content for the flagged ones only."""

    results: dict[str, ClassificationRecord] = field(default_factory=dict)
    flagged: dict[str, RetainedContent] = field(default_factory=dict)
    writes: int = 0
    delay: float = 0.0
    fail: bool = False

    async def record_classification(
        self, meta: ExchangeMetadata, result: ClassificationRecord, flagged: RetainedContent | None
    ) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("safety store unavailable")
        self.writes += 1
        self.results[meta.exchange_id] = result
        if flagged is not None:
            self.flagged[meta.exchange_id] = flagged
