"""One error tree. Each class knows its Anthropic `error.type` and HTTP status.

    ZdrError
    ├── InvalidRequest          400 invalid_request_error
    │   └── RequestTooLarge     413 request_too_large
    ├── AuthenticationFailed    401 authentication_error
    ├── PermissionDenied        403 permission_error
    ├── NotFound                404 not_found_error
    ├── Conflict                409 invalid_request_error
    ├── Unprocessable           422 invalid_request_error
    ├── RateLimited             429 rate_limit_error
    ├── UpstreamError           500 api_error (or the upstream's own status and type)
    │   ├── UpstreamTimeout     504 timeout_error
    │   └── Overloaded          529 overloaded_error
    └── StoreUnavailable        503 api_error

Messages are written by this code, never copied from request content or upstream bodies.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ZdrError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_json(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.error_type, "message": self.message}}


class InvalidRequest(ZdrError):
    status = 400
    error_type = "invalid_request_error"


class RequestTooLarge(InvalidRequest):
    status = 413
    error_type = "request_too_large"


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


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout_error"


class Overloaded(UpstreamError):
    status = 529
    error_type = "overloaded_error"


class StoreUnavailable(ZdrError):
    status = 503
    error_type = "api_error"


def error_body(status: int, error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}
