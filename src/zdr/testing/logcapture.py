"""Capture what the gateway logs, as parsed JSON lines, to assert on it (and on its absence)."""

from __future__ import annotations

import threading
from typing import Any

import orjson


class CapturedLines:
    """A writer for `zdr.observability.make_logger` that keeps every rendered line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    info = debug = warning = error = critical = msg

    @property
    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]

    def text(self) -> str:
        return "\n".join(self.lines)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == name]
