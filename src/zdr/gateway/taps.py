"""What the classifier reads of a response that is not a Messages API answer, as it is relayed.

`ResponseTap` wraps the ASGI `send` of an exchange: every message goes on unchanged; the body of
a successful (2xx) answer is also fed to a reader, which keeps at most the exchange's
`TextBudget` of text:

- `ResultsReader`: a message batch's results (`GET /v1/messages/batches/{id}/results`, JSON
  Lines): each succeeded result's message output is one part;
- `TextReader`: a downloaded file (`GET /v1/files/{id}/content`): its text in pieces, or
  `not_scored:media_type` when the file is not text;
- `JsonReader`: a JSON answer of a route whose schema the gateway does not read (Claude Code's
  server-side storage): every string value, in pieces.

The classifier so sees what the client saw, as far as the client read it.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from zdr.gateway.asgi import Message, Send
from zdr.gateway.media import (
    decoder,
    is_generic_type,
    is_text_type,
    looks_like_text,
    parse_media_type,
)
from zdr.gateway.textbudget import OVERLAP_CHARS, PIECE_CHARS, TextBudget, pieces
from zdr.gateway.texts import json_text, message_text

MAX_LINE_BYTES = 16 * 1024 * 1024      # one results line (a long message) at most
MAX_RESULT_CHARS = 32_000              # of a result's output, held for scoring (and if flagged)
MAX_JSON_BYTES = 8 * 1024 * 1024       # a JSON answer read whole
SNIFF_CHUNK = 4096                     # generic bytes: how much of the start decides "text"


class Reader(Protocol):
    texts: list[str]
    not_scored: set[str]

    def start(self, media_type: str, charset: str | None) -> None: ...

    def feed(self, chunk: bytes) -> None: ...

    def close(self) -> None: ...


class ResponseTap:
    """An ASGI `send` that passes everything on and feeds a 2xx answer's body to `reader`."""

    __slots__ = ("_reading", "_send", "reader")

    def __init__(self, send: Send, reader: Reader) -> None:
        self._send = send
        self.reader = reader
        self._reading = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if self._reading:
                body = message.get("body", b"")
                if body:
                    self.reader.feed(body)
        elif kind == "http.response.start":
            status = int(message["status"])
            self._reading = 200 <= status < 300
            if self._reading:
                header = next((v for k, v in message.get("headers", [])
                               if k.lower() == b"content-type"), None)
                self.reader.start(*parse_media_type(header))
        await self._send(message)


class ResultsReader:
    """Batch results, JSON Lines: each succeeded result's output text (one part each)."""

    def __init__(self, budget: TextBudget) -> None:
        self.texts: list[str] = []
        self.not_scored: set[str] = set()
        self._budget = budget
        self._line = bytearray()
        self._skipping = False     # inside a line past MAX_LINE_BYTES

    def start(self, media_type: str, charset: str | None) -> None:
        return None

    def feed(self, chunk: bytes) -> None:
        if self._budget.spent:
            if chunk.strip():
                self.not_scored.add("size_limit")
            return
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            self._take(chunk[start:end], complete=True)
            start = end + 1
        if start < len(chunk):
            self._take(chunk[start:], complete=False)

    def close(self) -> None:
        if self._line:
            self._line_done()

    def _take(self, data: bytes, *, complete: bool) -> None:
        if not self._skipping:
            if len(self._line) + len(data) > MAX_LINE_BYTES:
                self.not_scored.add("size_limit")
                self._skipping = True
                self._line.clear()
            else:
                self._line += data
        if complete:
            if not self._skipping:
                self._line_done()
            self._skipping = False

    def _line_done(self) -> None:
        line, self._line = bytes(self._line), bytearray()
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        result = value.get("result") if isinstance(value, dict) else None
        message = result.get("message") if isinstance(result, dict) else None
        if not isinstance(message, dict):
            return                          # errored, canceled, expired: no output
        text = message_text(message)
        if text:
            if self._budget.admit(text):
                self.texts.append(text[:MAX_RESULT_CHARS])
            else:
                self.not_scored.add("size_limit")


class TextReader:
    """A downloaded file: its text in pieces (as it arrives), or `not_scored:media_type`."""

    def __init__(self, budget: TextBudget) -> None:
        self.texts: list[str] = []
        self.not_scored: set[str] = set()
        self._budget = budget
        self._decoder = decoder(None)
        self._pending = ""
        self._text = False
        self._sniffing = False

    def start(self, media_type: str, charset: str | None) -> None:
        self._text = is_text_type(media_type) or is_generic_type(media_type)
        self._sniffing = not is_text_type(media_type)
        self._decoder = decoder(charset if is_text_type(media_type) else None)
        if not self._text:
            self.not_scored.add("media_type")

    def feed(self, chunk: bytes) -> None:
        if not self._text:
            return
        if self._sniffing:      # generic bytes: text only if they start as UTF-8 without NULs
            self._sniffing = False
            if not looks_like_text(chunk[:SNIFF_CHUNK], whole=False):
                self._text = False
                self.not_scored.add("media_type")
                return
        if self._budget.spent:
            self.not_scored.add("size_limit")
            return
        self._pending += self._decoder.decode(chunk)
        while len(self._pending) >= 2 * PIECE_CHARS:
            cut = len(self._pending) - PIECE_CHARS
            self._emit(self._pending[:cut])
            self._pending = self._pending[cut - OVERLAP_CHARS:]

    def close(self) -> None:
        if self._text and not self._budget.spent:
            self._emit(self._pending + self._decoder.decode(b"", final=True))
        self._pending = ""

    def _emit(self, text: str) -> None:
        self.texts.extend(pieces(text, self._budget))
        if self._budget.exceeded:
            self.not_scored.add("size_limit")


class JsonReader:
    """A JSON answer, read whole (up to `MAX_JSON_BYTES`): its string values, in pieces."""

    def __init__(self, budget: TextBudget) -> None:
        self.texts: list[str] = []
        self.not_scored: set[str] = set()
        self._budget = budget
        self._body = bytearray()
        self._over = False
        self._media_type = ""

    def start(self, media_type: str, charset: str | None) -> None:
        self._media_type = media_type

    def feed(self, chunk: bytes) -> None:
        if self._over:
            return
        if len(self._body) + len(chunk) > MAX_JSON_BYTES:
            self._over = True
            self.not_scored.add("size_limit")
            self._body.clear()
            return
        self._body += chunk

    def close(self) -> None:
        body, self._body = bytes(self._body), bytearray()
        if not body:
            return
        try:
            text = json_text(orjson.loads(body))
        except orjson.JSONDecodeError:
            if not (is_text_type(self._media_type) or is_generic_type(self._media_type)):
                self.not_scored.add("media_type")
                return
            text = body.decode("utf-8", "replace")
        self.texts.extend(pieces(text, self._budget))
        if self._budget.exceeded:
            self.not_scored.add("size_limit")
