"""How a finished exchange reaches the store, chosen once per request from the decision.

`MetadataRecorder` is all a request gets unless its decision keeps content: it holds only the
sink's `record_metadata`, so the path that serves a ZDR request has no way to hand content to the
store — not by mistake, not by a later edit that forgets a check.
"""

from __future__ import annotations

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
    """Records metadata and, before the last byte reaches the client, the retained content.

    A streamed response is kept as it is relayed: the relay calls `relaying(request)` once the
    response has started reaching the client and `relayed(chunk)` for each chunk it passes on.
    A complete stream is written by the relay before its last event goes out (`retain`); one
    that ends early — the client hung up, the upstream failed or cut the stream — is written by
    `finish`: the request and what was relayed, once, with the exchange's outcome
    (`client_disconnected`, `upstream_error`, `timeout`) marking it partial.
    """

    __slots__ = ("_record_retained", "_relayed", "_request", "_settled")

    def __init__(self, sink: ExchangeSink) -> None:
        super().__init__(sink.record_metadata)
        self._record_retained = sink.record_retained
        self._request: bytes | None = None
        self._relayed: list[bytes] = []
        self._settled = False       # a content write was made (or tried): never a second one

    def relaying(self, request: bytes) -> None:
        """The response has started reaching the client: what is relayed from now on is kept."""
        self._request = request

    def relayed(self, chunk: bytes) -> None:
        self._relayed.append(chunk)

    def content(self) -> RetainedContent:
        """The request and the response as relayed so far."""
        return RetainedContent(self._request or b"", b"".join(self._relayed))

    async def retain(self, meta: ExchangeMetadata, content: RetainedContent) -> None:
        """The complete response, before its last byte goes out. A client that hangs up during
        the write does not leave it half done: the sink queues the write before it can be
        interrupted (or shields it), and the final metadata then updates its row."""
        self._settled = True
        await self._record_retained(meta, content, ongoing=True)

    async def finish(self, meta: ExchangeMetadata) -> None:
        """The final metadata; first, for a stream that ended early, what was relayed of it.
        The metadata is recorded even if that content write fails (which is then raised)."""
        if self._request is None or self._settled:
            await super().finish(meta)
            return
        self._settled = True
        content, self._relayed = self.content(), []
        try:
            await self._record_retained(meta, content)
        finally:
            await super().finish(meta)


def recorder_for(decision: Decision, sink: ExchangeSink) -> MetadataRecorder:
    """The recorder a decision allows: content only when `keep['content']` says so."""
    if decision.allowed and decision.keep["content"].kept:
        return RetainingRecorder(sink)
    return MetadataRecorder(sink.record_metadata)
