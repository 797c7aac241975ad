"""The store's sinks in memory: `InMemorySink` (`zdr.ports.ExchangeSink`) and
`InMemorySafetySink` (`zdr.ports.SafetySink`) keep what they are given, in lists and dicts, for
tests to inspect; `delay` and `fail…` make them slow or failing as a store can be."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent


@dataclass
class InMemorySink:
    """Keeps what the gateway records, in lists, for tests to inspect."""

    metadata: list[ExchangeMetadata] = field(default_factory=list)
    retained: list[tuple[ExchangeMetadata, RetainedContent]] = field(default_factory=list)
    delay: float = 0.0
    fail_retained: bool = False

    async def record_metadata(self, meta: ExchangeMetadata) -> None:
        self.metadata.append(meta)

    async def record_retained(self, meta: ExchangeMetadata, content: RetainedContent, *,
                              ongoing: bool = False) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_retained:
            raise ConnectionError("store unavailable")
        self.retained.append((meta, content))

    def by_id(self, exchange_id: str) -> ExchangeMetadata | None:
        return next((m for m in self.metadata if m.exchange_id == exchange_id), None)


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
