"""Safety queues that run no classifier: `NullSafetyQueue` drops every submission (the gateway's
default when no classifier is wired), `RecordingSafetyQueue` keeps them for tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zdr.ports import ExchangeMetadata


class NullSafetyQueue:
    """Accepts submissions and drops them (the default when no classifier is wired)."""

    submitted = 0

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None:
        self.submitted += 1

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[tuple[str, str]],
                     not_scored: tuple[str, ...] = ()) -> None:
        self.submitted += 1


@dataclass
class RecordingSafetyQueue:
    """Keeps submissions in memory so tests can check what the classifier would see: `items`
    for exchanges of one text each, `parted` for those of several (with their not-scored
    reasons)."""

    items: list[tuple[ExchangeMetadata, str, str]] = field(default_factory=list)
    parted: list[tuple[ExchangeMetadata, list[tuple[str, str]], tuple[str, ...]]] = field(
        default_factory=list)

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None:
        self.items.append((meta, input_text, output_text))

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[tuple[str, str]],
                     not_scored: tuple[str, ...] = ()) -> None:
        self.parted.append((meta, list(parts), not_scored))

    def exchange_ids(self) -> list[str]:
        """Every exchange submitted, in order of submission within each kind."""
        return [m.exchange_id for m, _, _ in self.items] + \
            [m.exchange_id for m, _, _ in self.parted]
