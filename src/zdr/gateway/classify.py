"""What the safety classifier sees of each exchange, and the hand-off to it (DESIGN.md §2 rule 6).

Every exchange whose decision keeps a classifier result gets one, whatever its outcome: it is
scored on what the gateway saw — the request's text, and the response's text as far as it was
relayed. A stream the client abandoned, or that the upstream failed or cut, is scored on its
input and the partial output; a request the upstream failed to answer (5xx, timeout, the client
gone first), on its input. A request refused with a 4xx — by the gateway (a body it cannot read,
another org's id) or by the upstream (an invalid request) — reached no model and is bad input,
of which nothing but metadata is kept: its result says `not_scored:refused`.

- messages and count_tokens (Claude Code's too): the system prompt and messages
  (`texts.request_text`), and the answer's text as relayed (`MessageObserver`);
- `POST /v1/messages/batches`: each request's params, one part each;
- `GET /v1/messages/batches/{id}/results`: each result's message, one part each;
- `POST /v1/files`, `POST /v1/skills` and a skill's new version: each uploaded file's text, in
  pieces (`not_scored:media_type` for a file that is not text: a PDF, an image, an archive);
- `GET /v1/files/{id}/content`: the downloaded file's text, likewise;
- other files, batches and skills requests (list, read, cancel, delete):
  `not_scored:no_content`;
- any other route (Claude Code's server-side storage: sessions, their events, feedback): the
  string values of the request's and the answer's JSON (or their text), in pieces.

`view_for` picks an exchange's `View` once its request is read (None when the decision keeps no
classifier result); the app passes the client's `send` through `view.tap` and calls
`view.submit` when the exchange is over. The text lives in memory only, until the classifier's
pipeline has scored it (`zdr.safety.pipeline`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from zdr.gateway.asgi import Send
from zdr.gateway.media import is_generic_type, is_text_type, looks_like_text, parse_media_type
from zdr.gateway.observe import MessageObserver
from zdr.gateway.routes import Route
from zdr.gateway.taps import JsonReader, Reader, ResponseTap, ResultsReader, TextReader
from zdr.gateway.textbudget import TextBudget, pieces
from zdr.gateway.texts import batch_request_texts, json_text, request_text
from zdr.gateway.uploads import file_text, uploaded_files
from zdr.policy.decision import Decision
from zdr.ports import ExchangeMetadata, SafetyQueue

CONVERSATION_ROUTES = frozenset({"messages", "count_tokens"})
NEW_BATCH = "/v1/messages/batches"
BATCH_RESULTS = "/v1/messages/batches/{id}/results"
UPLOADS = frozenset({"/v1/files", "/v1/skills", "/v1/skills/{id}/versions"})
DOWNLOAD = "/v1/files/{id}/content"
# Routes whose other requests carry ids and metadata only (lists, reads, cancels, deletes).
METADATA_ROUTES = frozenset({"batches", "files", "skills"})
# A request body this large is read in a worker thread, not on the event loop (a 32 MB upload
# takes ~50 ms to parse, a 32 MB batch longer).
THREAD_BYTES = 1024 * 1024
Pair = tuple[str, str]


class View:
    """What the classifier will see of one exchange."""

    __slots__ = ()

    def tap(self, send: Send) -> Send:
        """The `send` to relay the response through (the client's own, unless read)."""
        return send

    async def submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                     observer: MessageObserver | None) -> None:
        """Hand what was seen to the classifier, once the exchange is over."""
        if refused(meta):
            safety.submit_parts(meta, (), ("refused",))
        else:
            await self._submit(safety, meta, observer)

    async def _submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                      observer: MessageObserver | None) -> None:
        raise NotImplementedError


def refused(meta: ExchangeMetadata) -> bool:
    """Answered 4xx (by the gateway or the upstream) while the client was still there."""
    return 400 <= meta.status_code < 500 and meta.outcome != "client_disconnected"


class ConversationView(View):
    """A Messages API exchange: its request's text and the answer's as relayed."""

    __slots__ = ("_body",)

    def __init__(self, body: Mapping[str, Any] | None) -> None:
        self._body = body

    async def _submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                      observer: MessageObserver | None) -> None:
        safety.submit(meta, request_text(self._body),
                      observer.output_text if observer is not None else "")


class NotScoredView(View):
    """An exchange with nothing to score: its result says why."""

    __slots__ = ("_reason",)

    def __init__(self, reason: str) -> None:
        self._reason = reason

    async def _submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                      observer: MessageObserver | None) -> None:
        safety.submit_parts(meta, (), (self._reason,))


class BatchView(View):
    """A new message batch: each request's text, one part each."""

    __slots__ = ("_body", "_size")

    def __init__(self, body: Mapping[str, Any] | None, size: int) -> None:
        self._body, self._size = body, size

    async def _submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                      observer: MessageObserver | None) -> None:
        if self._size > THREAD_BYTES:
            parts, not_scored = await asyncio.to_thread(batch_parts, self._body)
        else:
            parts, not_scored = batch_parts(self._body)
        self._body = None
        _submit_parts(safety, meta, parts, not_scored)


class UploadView(View):
    """An upload (Files API, Agent Skills): each file's text, in pieces, or
    `not_scored:media_type` for a file that is not text."""

    __slots__ = ("_body", "_content_type")

    def __init__(self, content_type: str | None, body: bytes) -> None:
        self._content_type, self._body = content_type, body

    async def _submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                      observer: MessageObserver | None) -> None:
        if len(self._body) > THREAD_BYTES:
            parts, not_scored = await asyncio.to_thread(upload_parts, self._content_type,
                                                        self._body)
        else:
            parts, not_scored = upload_parts(self._content_type, self._body)
        self._body = b""
        _submit_parts(safety, meta, parts, not_scored)


class RelayedView(View):
    """The response's text as it is relayed (`reader`), and the request body's if given."""

    __slots__ = ("_body", "_budget", "_content_type", "_reader")

    def __init__(self, reader: Reader, budget: TextBudget, content_type: str | None = None,
                 body: bytes = b"") -> None:
        self._reader, self._budget = reader, budget
        self._content_type, self._body = content_type, body

    def tap(self, send: Send) -> Send:
        return ResponseTap(send, self._reader)

    async def _submit(self, safety: SafetyQueue, meta: ExchangeMetadata,
                      observer: MessageObserver | None) -> None:
        reader = self._reader
        reader.close()
        if len(self._body) > THREAD_BYTES:
            inputs, not_scored = await asyncio.to_thread(body_texts, self._content_type,
                                                         self._body, self._budget)
        else:
            inputs, not_scored = body_texts(self._content_type, self._body, self._budget)
        self._body = b""
        parts = [(text, "") for text in inputs] + [("", text) for text in reader.texts]
        _submit_parts(safety, meta, parts, not_scored | reader.not_scored)


def view_for(
    decision: Decision,
    route: Route,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    parsed: Mapping[str, Any] | None,
    *,
    readable: bool = True,
) -> View | None:
    """The view of an exchange on `route` (`zdr.gateway.routes`); None when its decision keeps
    no classifier result. `readable`: False when the gateway refused the request body (too
    large, not JSON)."""
    if not decision.allowed or not decision.keep["classifier_result"].kept:
        return None
    if not readable:
        return NotScoredView("refused")
    if route.name in CONVERSATION_ROUTES:
        return ConversationView(parsed)
    pattern, budget = route.pattern, TextBudget()
    if method == "POST" and pattern == NEW_BATCH:
        return BatchView(parsed, len(body))
    if method == "POST" and pattern in UPLOADS:
        return UploadView(headers.get("content-type"), body)
    if method == "GET" and pattern == BATCH_RESULTS:
        return RelayedView(ResultsReader(budget), budget)
    if method == "GET" and pattern == DOWNLOAD:
        return RelayedView(TextReader(budget), budget)
    if route.name in METADATA_ROUTES:
        return NotScoredView("no_content")
    return RelayedView(JsonReader(budget), budget, headers.get("content-type"), body)


def upload_parts(content_type: str | None, body: bytes) -> tuple[list[Pair], set[str]]:
    """The parts of an upload (each text file in pieces, as input) and what was not scored."""
    files = uploaded_files(content_type, body)
    if not files:
        return [], {"no_content"}
    budget = TextBudget()
    parts: list[Pair] = []
    not_scored: set[str] = set()
    for upload in files:
        text = file_text(upload, budget.left + 1)
        if text is None:
            not_scored.add("media_type")
        else:
            parts.extend((piece, "") for piece in pieces(text, budget))
    if budget.exceeded:
        not_scored.add("size_limit")
    return parts, not_scored


def body_texts(content_type: str | None, body: bytes,
               budget: TextBudget) -> tuple[list[str], set[str]]:
    """A request body of a route whose schema the gateway does not read: its JSON string
    values, or its text, in pieces."""
    if not body:
        return [], set()
    try:
        text = json_text(orjson.loads(body))
    except orjson.JSONDecodeError:
        media_type, _ = parse_media_type(content_type)
        if not (is_text_type(media_type)
                or (is_generic_type(media_type) and looks_like_text(body))):
            return [], {"media_type"}
        text = body.decode("utf-8", "replace")
    found = pieces(text, budget)
    return found, {"size_limit"} if budget.exceeded else set()


def batch_parts(body: Mapping[str, Any] | None) -> tuple[list[Pair], set[str]]:
    """A new batch's requests, one part each (as input), within the exchange's budget."""
    budget = TextBudget()
    parts: list[Pair] = []
    for text in batch_request_texts(body):
        if text:
            if not budget.admit(text):
                break
            parts.append((text, ""))
    return parts, {"size_limit"} if budget.exceeded else set()


def _submit_parts(safety: SafetyQueue, meta: ExchangeMetadata, parts: Sequence[Pair],
                  not_scored: set[str]) -> None:
    if not parts and not not_scored:
        not_scored = {"no_content"}
    safety.submit_parts(meta, parts, tuple(sorted(not_scored)))
