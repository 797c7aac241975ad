"""Find many byte strings at once in a stream: one regular expression shaped like a trie, so each
position of the data is tried against a byte class, not against every pattern.

The expression is a lookahead, so hits may overlap (a canary inside another's tail is still found);
at one position only the longest pattern is reported (a canary that is a prefix of another one is
reported as the longer one)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Hit:
    pattern: bytes
    offset: int


def _trie(patterns: Iterable[bytes]) -> dict[int, Any]:
    root: dict[int, Any] = {}
    for pattern in patterns:
        node = root
        for byte in pattern:
            node = node.setdefault(byte, {})
        node[-1] = {}          # end of a pattern
    return root


def _regex(node: dict[int, Any]) -> bytes:
    ends = -1 in node
    branches = [re.escape(bytes([byte])) + _regex(child)
                for byte, child in sorted(node.items()) if byte != -1]
    if not branches:
        return b""
    body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
    if ends:
        # Prefer the longer pattern, but a shorter one that ends here is a match as well.
        return b"(?:" + body + b")?"
    return body


class Matcher:
    """Scans byte chunks of a stream for any of `patterns`; every hit is reported once."""

    def __init__(self, patterns: Iterable[bytes]) -> None:
        unique = sorted(set(patterns))
        if not unique or any(not p for p in unique):
            raise ValueError("patterns must be non-empty byte strings")
        self.longest = max(len(p) for p in unique)
        self._regex = re.compile(b"(?=(" + _regex(_trie(unique)) + b"))", re.DOTALL)
        self._patterns = set(unique)

    def scan(self, chunks: Iterable[bytes]) -> Iterator[Hit]:
        tail = b""
        position = 0                   # stream offset of tail[0]
        for chunk in chunks:
            window = tail + chunk
            for found in self._regex.finditer(window):
                matched = found.group(1)
                if found.start() + len(matched) <= len(tail):
                    continue           # wholly inside the previous window: already reported
                if matched in self._patterns:
                    yield Hit(matched, position + found.start())
            keep = min(len(window), self.longest - 1)
            position += len(window) - keep
            tail = window[len(window) - keep:] if keep else b""
