"""The upstream edge: which headers cross in each direction, and the error body a client gets
for an upstream's error status. (Failures to reach the upstream are translated into
`zdr.errors` by the `Upstream` implementations, `zdr.gateway.upstream_aiohttp` and
`zdr.gateway.upstream_httptools`.)

Upstream error bodies may quote the request (and so a ZDR org's content): they are passed to the
client as they are, but nothing here logs or keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from zdr.errors import upstream_error_type
from zdr.gateway.responses import Headers, error_payload

# Request headers the upstream may see (an allow-list: hop-by-hop headers, cookies and the
# client's own credentials never cross).
FORWARDED_REQUEST_HEADERS = ("anthropic-version", "anthropic-beta", "content-type", "accept")
STUB_KNOB_PREFIX = "x-stub-"

# Response headers the client may see.
FORWARDED_RESPONSE_PREFIXES = ("anthropic-", "retry-after", "x-should-retry")


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
    return error_payload(upstream_error_type(status), message, request_id)


def outcome_for_status(status: int) -> str:
    return "timeout" if status == 504 else "upstream_error"
