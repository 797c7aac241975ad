"""One canonical request target, checked before routing and sent upstream unchanged.

A request path is read once, from the bytes the client sent (`scope["raw_path"]`), and either
refused or accepted exactly as it is: the router, the ownership checks and the policy all read
that one string, and the relay sends it to the upstream byte for byte (`zdr.gateway.relay` turns
off its HTTP client's URL normalisation). Nothing in between decodes, re-encodes or resolves it,
so no check can pass on one path while the upstream serves another.

Refused, with `400 invalid_request_error` (the message says what to fix, and quotes nothing):

- a path that does not start with `/`;
- a `.` or `..` segment (`/v1/models/../files/x`), or an empty one (`//`);
- an encoded `/`, `\\` or `.` (`%2F`, `%5C`, `%2E`, any case): percent-decoding must not change
  where segments begin or end, or make a dot segment;
- a backslash, a NUL or any other control byte, raw or encoded (`%00`);
- a percent-encoded letter, digit, `-`, `_` or `~` (`%41`): each path has one spelling;
- a raw byte outside ASCII (clients percent-encode them), a `%` not followed by two hex digits,
  or percent-encoded bytes that are not UTF-8;
- in the query string: a control, space or non-ASCII byte, or a `#`.

What is accepted is left as sent (the percent-escapes that remain stand for characters that must
be encoded: `%20`, `%C3%A9`, `%3F`…): the router matches route literals as sent, and an id segment
is percent-decoded only to look up its owner (`resource_id`), exactly as the upstream decodes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from zdr.gateway.asgi import Scope

HEX = frozenset(b"0123456789abcdefABCDEF")
# Decoded bytes that would change a path's structure, or that no API path carries.
ENCODED_REFUSED = frozenset(b"/\\.") | frozenset(range(0x20)) | {0x7F}
# Characters that are never percent-encoded in a canonical path (RFC 3986 "unreserved"): one
# spelling per path, so `/v1/%6Dodels/claude%2Dx` cannot read differently here and upstream.
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
# Raw bytes a canonical path never carries: controls, space, backslash, anything past ASCII.
RAW_REFUSED = re.compile(rb"[^\x21-\x5b\x5d-\x7e]")
# In a query: the same, but a backslash is data and a "#" would start a fragment.
QUERY_REFUSED = re.compile(rb"[^\x21\x22\x24-\x7e]")
# Used only when a server gives no raw path: the decoded path, re-encoded (no "/" can hide).
PCHAR_SAFE = "/!$&'()*+,;=:@-._~"


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """The canonical path and query of one request, as the upstream will receive them."""

    path: str                # ASCII, exactly as the client sent it
    query: str               # the raw query string ("" when none)

    @property
    def target(self) -> str:
        """What follows the upstream's base URL: the path, then `?query` when there is one."""
        return self.path + "?" + self.query if self.query else self.path


@dataclass(frozen=True, slots=True)
class PathRefused:
    """Why a request target cannot be served: a fixed sentence, never a piece of the request."""

    message: str


DOT_SEGMENT = PathRefused("The request path contains a '.' or '..' segment; send the path "
                          "without dot segments.")
EMPTY_SEGMENT = PathRefused("The request path contains an empty segment ('//'); remove the "
                            "doubled slash.")
ENCODED_SEPARATOR = PathRefused("The request path contains an encoded '/', '\\' or '.' (%2F, "
                                "%5C or %2E); send these characters unencoded, or not at all.")
BAD_BYTE = PathRefused("The request path contains a backslash, a control character, a NUL or a "
                       "byte outside ASCII; percent-encode UTF-8 text and remove the rest.")
ENCODED_UNRESERVED = PathRefused("The request path percent-encodes a letter, a digit, '-', '_' "
                                 "or '~'; send these characters unencoded.")
BAD_ESCAPE = PathRefused("The request path contains a '%' that is not followed by two "
                         "hexadecimal digits; encode a literal '%' as %25.")
NOT_UTF8 = PathRefused("The request path's percent-encoded bytes are not valid UTF-8.")
NOT_ABSOLUTE = PathRefused("The request path must start with '/'.")
BAD_QUERY = PathRefused("The query string contains a control character, a space, a '#' or a "
                        "byte outside ASCII; percent-encode it.")


def request_target(scope: Scope) -> RequestTarget | PathRefused:
    """The canonical target of an HTTP (or WebSocket) scope, or why it is refused."""
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes | bytearray):
        raw = quote(str(scope.get("path", "")), safe=PCHAR_SAFE).encode("ascii")
    problem = path_problem(bytes(raw))
    if problem is not None:
        return problem
    query: bytes = scope.get("query_string", b"") or b""
    if query and QUERY_REFUSED.search(query):
        return BAD_QUERY
    return RequestTarget(raw.decode("ascii"), query.decode("ascii"))


def path_problem(raw: bytes) -> PathRefused | None:
    """None when `raw` is a canonical path; else what is wrong with it."""
    if not raw.startswith(b"/"):
        return NOT_ABSOLUTE
    if RAW_REFUSED.search(raw):
        return BAD_BYTE
    if b"%" in raw:
        problem = _escapes_problem(raw)
        if problem is not None:
            return problem
    if b"/." in raw:
        for segment in raw[1:].split(b"/"):
            if segment in (b".", b".."):
                return DOT_SEGMENT
    if b"//" in raw:
        return EMPTY_SEGMENT
    return None


def _escapes_problem(raw: bytes) -> PathRefused | None:
    index = raw.find(b"%")
    while index != -1:
        digits = raw[index + 1:index + 3]
        if len(digits) != 2 or not HEX.issuperset(digits):
            return BAD_ESCAPE
        value = int(digits, 16)
        if value in ENCODED_REFUSED:
            return ENCODED_SEPARATOR if value in b"/\\." else BAD_BYTE
        if value in UNRESERVED:
            return ENCODED_UNRESERVED
        index = raw.find(b"%", index + 3)
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    return None


def resource_id(segment: str) -> str:
    """An id segment of a canonical path, decoded as the upstream decodes it (UTF-8, checked)."""
    return unquote_to_bytes(segment).decode("utf-8") if "%" in segment else segment
