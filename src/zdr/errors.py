"""One error tree. Each class knows its Anthropic `error.type` and HTTP status.

    ZdrError                    500 api_error
    ├── InvalidRequest          400 invalid_request_error
    │   ├── MethodNotAllowed    405 invalid_request_error
    │   ├── RequestTooLarge     413 request_too_large
    │   └── HeadersTooLarge     431 request_too_large
    ├── AuthenticationFailed    401 authentication_error
    ├── PermissionDenied        403 permission_error
    ├── NotFound                404 not_found_error
    ├── Conflict                409 invalid_request_error
    ├── Unprocessable           422 invalid_request_error
    ├── RateLimited             429 rate_limit_error
    ├── UpstreamError           500 api_error (or the upstream's own status and type)
    │   ├── UpstreamUnreachable 502 api_error (no connection could be opened)
    │   ├── UpstreamDropped     502 api_error (the connection failed once open)
    │   ├── UpstreamTimeout     504 timeout_error
    │   └── Overloaded          529 overloaded_error
    ├── StoreUnavailable        503 api_error (the store cannot take or serve this now)
    │   └── DatabaseUnavailable 503 api_error (the database cannot be reached or used)
    └── Misconfigured           500 api_error (an operator must act: a key, the schema)

Other packages subclass these where the error is theirs (`zdr.gateway.body.UnreadableBody`,
`zdr.store.crypto.MasterKeyError`, `zdr.control.audit.ChainBroken`, …); the database's own
exceptions become `DatabaseUnavailable` in one place, `zdr.store.failures`.

`render(error)` is the one way any error becomes the API's error format and its status: a member
of the tree with its own status, type and message; anything else a 500 that says nothing more.
Messages are written by this code, never copied from request content, upstream bodies or a
database's error text. A `Misconfigured` message is for the operator (the CLI prints it); an API
client is told only that the gateway failed.
"""

from __future__ import annotations

from typing import Any, ClassVar

STORE_DOWN = ("The gateway's database is unavailable, so this request cannot be served; "
              "nothing was stored or changed. Retry shortly.")
UNEXPECTED = "The gateway failed to serve this request."


class ZdrError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def public_message(self) -> str:
        """What an API client is told."""
        return self.message


class InvalidRequest(ZdrError):
    status = 400
    error_type = "invalid_request_error"


class MethodNotAllowed(InvalidRequest):
    status = 405


class RequestTooLarge(InvalidRequest):
    status = 413
    error_type = "request_too_large"


class HeadersTooLarge(RequestTooLarge):
    status = 431


class AuthenticationFailed(ZdrError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(ZdrError):
    status = 403
    error_type = "permission_error"


class NotFound(ZdrError):
    status = 404
    error_type = "not_found_error"


class Conflict(ZdrError):
    status = 409
    error_type = "invalid_request_error"


class Unprocessable(ZdrError):
    status = 422
    error_type = "invalid_request_error"


class RateLimited(ZdrError):
    status = 429
    error_type = "rate_limit_error"


class UpstreamError(ZdrError):
    status = 500
    error_type = "api_error"


class UpstreamUnreachable(UpstreamError):
    status = 502
    error_type = "api_error"

    def __init__(self, message: str = "The upstream API could not be reached.") -> None:
        super().__init__(message)


class UpstreamDropped(UpstreamError):
    status = 502
    error_type = "api_error"

    def __init__(self, message: str = "The connection to the upstream API failed.") -> None:
        super().__init__(message)


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout_error"

    def __init__(self, message: str = "The upstream API did not answer in time.") -> None:
        super().__init__(message)


class Overloaded(UpstreamError):
    status = 529
    error_type = "overloaded_error"


# The API's error type for each status the upstream may answer with: used when its error body is
# not in the API's format and the gateway writes one (`zdr.gateway.upstream.error_body`).
UPSTREAM_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: UpstreamError.error_type,
    504: UpstreamTimeout.error_type,
    529: Overloaded.error_type,
}


def upstream_error_type(status: int) -> str:
    """The API's error type for an upstream's error status (unlisted: by its class, 4xx/5xx)."""
    if status in UPSTREAM_STATUS_TYPES:
        return UPSTREAM_STATUS_TYPES[status]
    return UpstreamError.error_type if status >= 500 else "invalid_request_error"


class StoreUnavailable(ZdrError):
    status = 503
    error_type = "api_error"


class DatabaseUnavailable(StoreUnavailable):
    """The database cannot be reached or used right now (down, unreachable, its file gone,
    locked past its timeout, the disk full). `driver_error` names the database exception it
    stands for — its type only, never its text — for log lines."""

    def __init__(self, driver_error: str) -> None:
        super().__init__(STORE_DOWN)
        self.driver_error = driver_error


class Misconfigured(ZdrError):
    """The deployment cannot serve until an operator acts; the message tells the operator how."""

    @property
    def public_message(self) -> str:
        return UNEXPECTED


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """The API's error format."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def render(error: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and API-format body for `error`: a member of the tree as it says, anything
    else a 500 that names nothing of it."""
    if isinstance(error, ZdrError):
        return error.status, error_body(error.error_type, error.public_message)
    return 500, error_body("api_error", UNEXPECTED)
