"""The narrow interfaces between the parts, and the records that cross them.

Content and metadata are different types on purpose: `ExchangeMetadata` has no field that can hold
message text, and only `ExchangeSink.record_retained` accepts `RetainedContent`. The ZDR path of
the gateway is handed a `MetadataOnlyRecorder`, which has no method that takes content at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from zdr.policy.decision import Decision
from zdr.policy.facts import Arrangements


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, resolved from an API key hash. No secret in here."""

    key_id: str
    key_prefix: str
    org_id: str
    org_name: str
    workspace_id: str
    arrangements: Arrangements
    org_deleted: bool = False


@dataclass(frozen=True, slots=True)
class ExchangeMetadata:
    """The `metadata` record class: ids, names, counts, timings and the decision. Never content."""

    exchange_id: str
    org_id: str
    workspace_id: str | None
    key_id: str | None
    started_at: datetime
    decision: Decision
    status_code: int
    # ok | rejected | upstream_error | timeout | client_disconnected | bad_request
    outcome: str
    stream: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    duration_ms: int | None = None
    ttfb_ms: int | None = None
    end_user: str | None = None      # keyed hash of `metadata.user_id` (zdr.end_users)


@dataclass(frozen=True, slots=True)
class RetainedContent:
    """The `content` record class: the request body and the assembled response, as bytes."""

    request: bytes = field(repr=False)
    response: bytes = field(repr=False)


class Directory(Protocol):
    """Resolves API key hashes to principals (cached by the gateway)."""

    async def principal_for(self, key_hash: str) -> Principal | None: ...


class ExchangeSink(Protocol):
    """Where completed exchanges go. `record_retained` returns once the write is durable.

    `record_metadata` may queue the record before it returns its awaitable (a sink need not
    make a coroutine per call). `record_retained(..., ongoing=True)`: the exchange goes on after
    the write (its last byte waits for it), so its duration, and a time to first byte not set
    yet, may be stored as of the write; the final figures follow with `record_metadata`."""

    def record_metadata(self, meta: ExchangeMetadata) -> Awaitable[None]: ...

    async def record_retained(self, meta: ExchangeMetadata, content: RetainedContent, *,
                              ongoing: bool = False) -> None: ...


class MetadataOnlyRecorder(Protocol):
    async def finish(self, meta: ExchangeMetadata) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class ClassificationRecord:
    """The `classifier_result` record class: scores and labels per category; no text at all."""

    exchange_id: str
    org_id: str
    classifier: str
    classifier_version: str
    flagged: bool
    scores: dict[str, float]
    labels: dict[str, bool]
    sampled_out: bool = False
    # What of the exchange the classifier did not see, from a closed set (`NOT_SCORED`); stored
    # among the labels as `not_scored:<reason>: true`. Never text.
    not_scored: tuple[str, ...] = ()


# Why part or all of an exchange was not scored (a closed set: safe in labels and metrics).
NOT_SCORED = (
    "media_type",    # a file whose media type is not text (PDF, image, archive, ...)
    "no_content",    # the exchange carried no text (a list, a metadata read, a delete, an error)
    "refused",       # answered 4xx (by the gateway or the upstream): bad input, no model read it
    "size_limit",    # text past the per-exchange limit (the rest was scored)
)


class SafetySink(Protocol):
    """Stores classifier results (always) and flagged content (misuse exception, encrypted)."""

    async def record_classification(
        self, meta: ExchangeMetadata, result: ClassificationRecord, flagged: RetainedContent | None
    ) -> None: ...


class SafetyQueue(Protocol):
    """Takes an exchange's text after the response is done; never blocks, never persists text."""

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None: ...

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[tuple[str, str]],
                     not_scored: tuple[str, ...] = ()) -> None:
        """An exchange that carries several texts (a batch's requests, its results, the pieces
        of an uploaded file): each (input, output) part is scored on its own and the exchange
        gets one result, per category the highest score; flagged content holds the flagged
        parts only. `not_scored` names what was not seen (`NOT_SCORED`); no parts and a reason
        is a result without scores."""
        ...


@dataclass(frozen=True, slots=True)
class UpstreamResource:
    """An object the upstream created for an org: a file, message batch, skill, session or
    container (the gateway relays every org's objects under its one provider key, so it alone
    knows whose each id is)."""

    kind: str                      # zdr.gateway.ownership.KINDS: "file", "batch", "container"…
    resource_id: str
    org_id: str
    workspace_id: str | None
    exchange_id: str               # the request that created it
    created_at: datetime
    expires_at: datetime | None    # the catalog's artifact period; None: until deleted


class ResourceOwners(Protocol):
    """Who owns each upstream object id, per kind. Unknown and expired ids have no owner."""

    async def record(self, resource: UpstreamResource) -> None: ...

    async def owner_of(self, kind: str, resource_id: str, now: datetime) -> str | None: ...

    async def owned(
        self, org_id: str, kind: str, resource_ids: list[str], now: datetime
    ) -> set[str]: ...

    async def forget(self, kind: str, resource_id: str) -> None: ...


# What the upstream is sent as a request body: the bytes, or chunks as they become available.
UpstreamBody = bytes | AsyncIterable[bytes]


class UpstreamReply(Protocol):
    """The upstream's answer, open while its `Upstream.request` block is: `status` and `headers`
    (looked up by lower-case name) as they arrived, then the body, read at most once."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, chunk by chunk, exactly as sent (never decompressed)."""
        ...

    @property
    def ended(self) -> bool:
        """True once `chunks()` has handed over the body's last byte (the next step ends it);
        False while that is not known. The relay then ends its answer with that chunk."""
        ...

    async def read(self) -> bytes:
        """The whole body."""
        ...


class Upstream(Protocol):
    """The model provider's API, as the gateway reaches it (`zdr.gateway.upstream_aiohttp` or
    `zdr.gateway.upstream_httptools`, and `zdr.gateway.upstream_memory` for tests).

    `request` sends `target` (the path and `?query`, ASCII, byte for byte as the client sent
    them: nothing normalises it) with exactly `headers` (credentials included: the caller
    chooses them). Leaving its block releases the reply; leaving it before the body's end (the
    client hung up and the task was cancelled, or an error) closes the connection, so the
    upstream stops generating. Every failure to reach the upstream or read its answer raises a
    `zdr.errors.UpstreamError` (`UpstreamUnreachable`, `UpstreamDropped`,
    `UpstreamTimeout`) whose message says nothing of the exchange; an answer with an error
    status is a reply like any other."""

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: UpstreamBody
    ) -> AbstractAsyncContextManager[UpstreamReply]: ...

    async def start(self) -> None:
        """Open what requests need (a connection pool), in the serving event loop."""
        ...

    async def close(self) -> None: ...
