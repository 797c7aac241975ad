"""Bounds on a request's headers: how many, and how many bytes in all.

Checked first thing for every HTTP request, before routing and authentication: a request past
either bound gets `431` with error type `request_too_large` in the API's format (the type the API
uses for a too-large request) and nothing of it is kept, logged or relayed. The size counts what
the headers take on the wire: name, value, and 4 bytes (": " and CRLF) per header.

The HTTP server bounds the head of a request before the app sees it as well
(`zdr.gateway.server_protocol`), so a client cannot make a worker buffer megabytes of headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HEADER_OVERHEAD = 4        # ": " between name and value, CRLF after the value
TOO_LARGE_STATUS = 431
TOO_LARGE_TYPE = "request_too_large"


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    max_bytes: int
    max_count: int

    @property
    def message(self) -> str:
        return (f"The request headers are too large: send at most {self.max_count} headers of "
                f"at most {self.max_bytes} bytes in all (names and values).")

    def exceeded(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """Whether `headers` (an ASGI scope's) pass either bound."""
        count = size = 0
        for name, value in headers:
            count += 1
            size += len(name) + len(value) + HEADER_OVERHEAD
        return count > self.max_count or size > self.max_bytes
