"""`zdr.errors`: every member of the tree renders the API's error format with its own status."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator

import pytest

import zdr.errors
from zdr.errors import STORE_DOWN, UNEXPECTED, ZdrError, render

CANARY = "canary-errors-41c7"
# The modules that subclass the tree: imported so the walk sees their members.
MEMBERS_ELSEWHERE = [
    "zdr.console.ratelimit", "zdr.control.audit", "zdr.gateway.body", "zdr.proof.signing",
    "zdr.safety.classifier", "zdr.safety.http", "zdr.safety.processes", "zdr.store.crypto",
    "zdr.store.db",
]
# error.type values of the Anthropic API
API_ERROR_TYPES = {
    "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
    "request_too_large", "rate_limit_error", "api_error", "timeout_error", "overloaded_error",
}
# members whose constructor takes something other than a message
CONSTRUCTORS: dict[str, Callable[[], ZdrError]] = {
    "DatabaseUnavailable": lambda: zdr.errors.DatabaseUnavailable("OperationalError"),
    "TooManyAttempts": lambda: _member("TooManyAttempts")(12.5),
}


def _walk(cls: type[ZdrError]) -> Iterator[type[ZdrError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _walk(sub)


def _members() -> list[type[ZdrError]]:
    for name in MEMBERS_ELSEWHERE:
        importlib.import_module(name)
    return sorted(set(_walk(ZdrError)), key=lambda c: (c.__module__, c.__name__))


def _member(name: str) -> type[ZdrError]:
    [found] = [c for c in _members() if c.__name__ == name]
    return found


def _made(cls: type[ZdrError]) -> ZdrError:
    make = CONSTRUCTORS.get(cls.__name__)
    return make() if make is not None else cls("Say what to fix.")


@pytest.mark.parametrize("cls", _members(), ids=lambda c: c.__name__)
def test_every_member_renders_the_api_format_with_its_status(cls: type[ZdrError]) -> None:
    error = _made(cls)
    status, body = render(error)
    assert status == cls.status and 400 <= status <= 599
    assert json.loads(json.dumps(body)) == body
    assert set(body) == {"type", "error"} and body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == cls.error_type in API_ERROR_TYPES
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_the_docstring_draws_every_member_of_the_module() -> None:
    drawn = set(re.findall(r"[├└]── (\w+)", zdr.errors.__doc__ or ""))
    defined = {c.__name__ for c in _walk(ZdrError) if c.__module__ == "zdr.errors"} - {"ZdrError"}
    assert drawn == defined


@pytest.mark.parametrize(("error", "status", "message"), [
    (KeyError(CANARY), 500, UNEXPECTED),                            # not ours: says nothing
    (zdr.errors.Misconfigured(f"cannot read /etc/{CANARY}"), 500, UNEXPECTED),  # operators'
    (zdr.errors.DatabaseUnavailable("OperationalError"), 503, STORE_DOWN),
])
def test_what_an_api_client_is_not_told(error: BaseException, status: int, message: str) -> None:
    assert render(error) == (status, {"type": "error",
                                      "error": {"type": "api_error", "message": message}})


def test_a_member_message_is_kept_for_the_cli() -> None:
    from zdr.store.crypto import MasterKeyError

    assert MasterKeyError("no master key: run `zdr init`").message.startswith("no master key")
