"""The upstream receives byte for byte the path and query the router matched, on every route
and method of the table: the relay builds its URL from the checked target with the HTTP client's
normalisation off, so `%20`, `%C3%A9`, or `%41` and `%2F` in the query arrive as they were sent.

The ids are the caller's own (recorded in the gateway's ownership table), spelled with
percent-escapes that decode to them; the stand-in's request log
(`/stub/requests`, `StubStats.received`) shows what it was sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from zdr.gateway.paths import resource_id
from zdr.gateway.routes import TABLE, Route
from zdr.ports import UpstreamResource
from zdr.testing.rawhttp import raw_request

QUERY = "beta=true&note=%2F..%2F&x=%41"
ID_SEGMENT = "obj_%20%C3%A9-1"                 # the caller's id "obj_ é-1", escaped
CASES = [(route, method) for route in TABLE for method in sorted(route.methods)]


def body_for(route: Route, method: str) -> bytes:
    if method != "POST":
        return b""
    if route.name in ("messages", "count_tokens"):
        return orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 8,
                             "messages": [{"role": "user", "content": "hi"}]})
    if route.name == "batches" and not route.names_id:
        return orjson.dumps({"requests": []})
    return b"{}"


@pytest.fixture
def owning(gateway: Any) -> str:
    """A key whose org owns `ID_SEGMENT`'s id in every kind."""
    key, principal = gateway.directory.create_key("target-org")
    owners = gateway.app.ownership.owners
    for kind in ("file", "batch", "skill", "session", "cc_session", "container"):
        owners.resources[(kind, resource_id(ID_SEGMENT))] = UpstreamResource(
            kind=kind, resource_id=resource_id(ID_SEGMENT), org_id=principal.org_id,
            workspace_id=None, exchange_id="req_seed", created_at=datetime.now(UTC),
            expires_at=None)
    return key


@pytest.mark.parametrize(("route", "method"), CASES,
                         ids=[f"{m} {r.pattern}" for r, m in CASES])
def test_the_upstream_receives_exactly_the_matched_path_and_query(
    stub: Any, gateway: Any, owning: str, route: Route, method: str
) -> None:
    path = "/" + "/".join(ID_SEGMENT if s == "{id}" else "v%201" if s == "{version}"
                          else "claude-haiku-4-5" if s == "{model}" else s
                          for s in route.segments)
    target = f"{path}?{QUERY}"
    matched = gateway.app.router.match(path)
    assert matched is not None and matched.route == route
    received = stub.stub.stats.received
    before = len(received)
    answer = raw_request(gateway.port, method, target.encode(),
                         [("x-api-key", owning), ("content-type", "application/json")],
                         body_for(route, method))
    assert answer.status < 500, answer.body
    assert received[before:] == [(method, target)], answer.body
