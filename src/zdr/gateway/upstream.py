"""The upstream edge: which headers cross in each direction, and how upstream failures map to the
API's error types. Every low-level client error is translated here, in one place.

Upstream error bodies may quote the request (and so a ZDR org's content): they are passed to the
client as they are, but nothing here logs or keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from zdr.gateway.responses import Headers, error_payload

# Request headers the upstream may see (an allow-list: hop-by-hop headers, cookies and the
# client's own credentials never cross).
FORWARDED_REQUEST_HEADERS = ("anthropic-version", "anthropic-beta", "content-type", "accept")
STUB_KNOB_PREFIX = "x-stub-"

# Response headers the client may see.
FORWARDED_RESPONSE_PREFIXES = ("anthropic-", "retry-after", "x-should-retry")

STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """A failure to get an answer from the upstream, as the client will see it."""

    status: int
    error_type: str
    message: str
    outcome: str     # upstream_error | timeout


def request_headers(
    headers: Mapping[str, str], provider_key: str, *, forward_knobs: bool
) -> dict[str, str]:
    out = {name: headers[name] for name in FORWARDED_REQUEST_HEADERS if name in headers}
    out.setdefault("anthropic-version", "2023-06-01")
    out["x-api-key"] = provider_key
    if forward_knobs:
        for name, value in headers.items():
            if name.startswith(STUB_KNOB_PREFIX):
                out[name] = value
    return out


def response_headers(upstream: Mapping[str, str]) -> Headers:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream.items()
        if name.lower().startswith(FORWARDED_RESPONSE_PREFIXES)
    ]


def type_for_status(status: int) -> str:
    if status in STATUS_TYPES:
        return STATUS_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, body: bytes, request_id: str) -> bytes:
    """The upstream's own error body when it is in the API's format, else one written here."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    if (
        isinstance(value, dict)
        and value.get("type") == "error"
        and isinstance(value.get("error"), dict)
        and isinstance(value["error"].get("type"), str)
    ):
        return body
    message = f"The upstream API answered {status}."
    return error_payload(type_for_status(status), message, request_id)


def outcome_for_status(status: int) -> str:
    return "timeout" if status == 504 else "upstream_error"


def failure_for(error: BaseException) -> UpstreamFailure:
    """Map a client-side exception to what the client sees. The exception text is not used: it
    may carry URLs or bytes of the exchange."""
    if isinstance(error, TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamFailure(504, "timeout_error", "The upstream API did not answer in time.",
                               "timeout")
    if isinstance(error, aiohttp.ClientConnectorError):
        return UpstreamFailure(502, "api_error", "The upstream API could not be reached.",
                               "upstream_error")
    return UpstreamFailure(502, "api_error", "The connection to the upstream API failed.",
                           "upstream_error")
