"""Sending responses on raw ASGI: JSON bodies, errors in the Anthropic format, common headers.

`send_refusal` answers a member of the error tree (`zdr.errors.render`); `send_error` a status,
type and message from elsewhere (the policy's decision, the upstream). Both bodies are the API's
error format (`zdr.errors.error_body`) with the `request_id`. Error messages are written by this
code (or taken from the policy's decision); a request body is never quoted in one.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from zdr.errors import ZdrError, error_body, render
from zdr.gateway.asgi import Send

Headers = list[tuple[bytes, bytes]]

JSON_TYPE = (b"content-type", b"application/json")


def new_request_id() -> str:
    return "req_gw" + secrets.token_hex(12)


def error_payload(error_type: str, message: str, request_id: str) -> bytes:
    body = error_body(error_type, message)
    body["request_id"] = request_id
    return orjson.dumps(body)


def base_headers(request_id: str, retention: str) -> Headers:
    return [(b"request-id", request_id.encode()), (b"zdr-retention", retention.encode())]


async def send_body(
    send: Send, status: int, body: bytes, headers: Headers, content_type: bytes = JSON_TYPE[1]
) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(
    send: Send, status: int, error_type: str, message: str, request_id: str, retention: str,
    extra: Headers | None = None,
) -> None:
    headers = base_headers(request_id, retention)
    if extra:
        headers.extend(extra)
    await send_body(send, status, error_payload(error_type, message, request_id), headers)


async def send_refusal(
    send: Send, error: ZdrError, request_id: str, retention: str, extra: Headers | None = None,
) -> None:
    status, body = render(error)
    body["request_id"] = request_id
    headers = base_headers(request_id, retention)
    if extra:
        headers.extend(extra)
    await send_body(send, status, orjson.dumps(body), headers)


async def send_json(send: Send, status: int, value: Any, headers: Headers) -> None:
    await send_body(send, status, orjson.dumps(value), headers)
