"""Which media types the safety classifier reads as text, and how their bytes become text.

Text: `text/*` (plain, Markdown, CSV, HTML, …), JSON and JSON Lines, XML, YAML, TOML and the
`+json` / `+xml` families. A body declared only as generic bytes (`application/octet-stream`, or
no type at all) counts as text when it is valid UTF-8 without NUL bytes — so a Markdown file
uploaded without its type is still read. Anything else (PDF, images, archives, audio) is not
text: the classifier's result for it says `not_scored:media_type`.
"""

from __future__ import annotations

import codecs

TEXT_TYPES = frozenset({
    "application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonl",
    "application/xml", "application/yaml", "application/x-yaml", "application/toml",
    "application/javascript", "application/x-sh", "application/sql",
})
TEXT_SUFFIXES = ("+json", "+xml", "+yaml")
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# How much of a generic body is checked for UTF-8 (what is scored is at most this much anyway).
SNIFF_BYTES = 8 * 1024 * 1024


def parse_media_type(header: str | bytes | None) -> tuple[str, str | None]:
    """(media type in lower case without parameters, its charset or None)."""
    if header is None:
        return "", None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    kind, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return kind.strip().lower(), charset


def is_text_type(media_type: str) -> bool:
    return (media_type.startswith("text/") or media_type in TEXT_TYPES
            or media_type.endswith(TEXT_SUFFIXES))


def is_generic_type(media_type: str) -> bool:
    return media_type in GENERIC_TYPES


def looks_like_text(data: bytes | memoryview, *, whole: bool = True) -> bool:
    """Valid UTF-8 without a NUL byte, judged on the first `SNIFF_BYTES` (a character cut where
    the sample ends is fine; `whole=False`: `data` itself is only the start of the body)."""
    sample = bytes(data[:SNIFF_BYTES])
    if b"\x00" in sample:
        return False
    final = whole and len(data) <= SNIFF_BYTES
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=final)
    except UnicodeDecodeError:
        return False
    return True


def decoder(charset: str | None) -> codecs.IncrementalDecoder:
    """An incremental decoder for `charset` (UTF-8 when absent or unknown); bad bytes become
    U+FFFD, never an error."""
    try:
        factory = codecs.getincrementaldecoder(charset or "utf-8")
    except LookupError:
        factory = codecs.getincrementaldecoder("utf-8")
    return factory(errors="replace")
