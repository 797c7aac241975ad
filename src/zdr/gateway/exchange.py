"""The state of one exchange while it runs, and the metadata record it becomes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from zdr.policy.decision import Decision
from zdr.ports import ExchangeMetadata, Principal


@dataclass(slots=True)
class Exchange:
    request_id: str
    principal: Principal
    decision: Decision
    started_at: datetime
    started: float = field(default_factory=time.perf_counter)
    stream: bool = False
    status: int = 0
    outcome: str = "ok"
    input_tokens: int | None = None
    output_tokens: int | None = None
    ttfb: float | None = None
    recorded: Decision | None = None    # what the record names (zdr.gateway.pseudonyms)
    end_user: str | None = None         # keyed hash of metadata.user_id (zdr.end_users)

    def mark_first_byte(self) -> None:
        if self.ttfb is None:
            self.ttfb = time.perf_counter() - self.started

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def metadata(self) -> ExchangeMetadata:
        principal = self.principal
        return ExchangeMetadata(
            exchange_id=self.request_id,
            org_id=principal.org_id,
            workspace_id=principal.workspace_id or None,
            key_id=principal.key_id or None,
            started_at=self.started_at,
            decision=self.decision if self.recorded is None else self.recorded,
            status_code=self.status,
            outcome=self.outcome,
            stream=self.stream,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            duration_ms=round(self.elapsed() * 1000),
            ttfb_ms=None if self.ttfb is None else round(self.ttfb * 1000),
            end_user=self.end_user,
        )
