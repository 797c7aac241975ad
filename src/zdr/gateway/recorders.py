"""How a finished exchange reaches the store, chosen once per request from the decision.

`MetadataRecorder` is all a request gets unless its decision keeps content: it holds only the
sink's `record_metadata`, so the path that serves a ZDR request has no way to hand content to the
store — not by mistake, not by a later edit that forgets a check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from zdr.policy.decision import Decision
from zdr.ports import ExchangeMetadata, ExchangeSink, RetainedContent


class MetadataRecorder:
    """Records metadata only. Has no method, and holds no reference, that takes content."""

    __slots__ = ("_record_metadata",)

    def __init__(self, record_metadata: Callable[[ExchangeMetadata], Awaitable[None]]) -> None:
        self._record_metadata = record_metadata

    async def finish(self, meta: ExchangeMetadata) -> None:
        await self._record_metadata(meta)


class RetainingRecorder(MetadataRecorder):
    """Records metadata and, before the last byte reaches the client, the retained content."""

    __slots__ = ("_record_retained",)

    def __init__(self, sink: ExchangeSink) -> None:
        super().__init__(sink.record_metadata)
        self._record_retained = sink.record_retained

    async def retain(self, meta: ExchangeMetadata, content: RetainedContent) -> None:
        # Shielded: a client that hangs up during the write must not leave it half done.
        await asyncio.shield(self._record_retained(meta, content))


def recorder_for(decision: Decision, sink: ExchangeSink) -> MetadataRecorder:
    """The recorder a decision allows: content only when `keep['content']` says so."""
    if decision.allowed and decision.keep["content"].kept:
        return RetainingRecorder(sink)
    return MetadataRecorder(sink.record_metadata)
