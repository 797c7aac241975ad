"""The closed route table (zdr.gateway.routes), walked as a whole.

- every route lists its methods (no "any method" route), and either has an ownership guard or
  carries no org's upstream id in its path;
- a route whose body may name upstream ids has a JSON body the gateway reads;
- every listed pattern is reached by its own paths, and each `{id}` is handed to the guard;
- an `{id}` the caller's org does not own is a 404 before anything is relayed, on every owned
  route and method;
- every other path is a 404 (a listed path with another method a 405), in the API's format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zdr.catalog import default_catalog
from zdr.gateway.app import GatewayApp
from zdr.gateway.ownership import KINDS
from zdr.gateway.paths import RequestTarget, request_target
from zdr.gateway.routes import PLACEHOLDERS, TABLE, Route, Router
from zdr.inmemory import InMemoryDirectory, InMemorySink, NullSafetyQueue
from zdr.settings import load_settings
from zdr.testing.logcapture import CapturedLines
from zdr.wiring import build_app

ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
              min_size=1, max_size=24)


def concrete(route: Route, values: dict[str, str]) -> str:
    return "/" + "/".join(values.get(s, s) for s in route.segments)


# ------------------------------------------------------------------ the table itself
@pytest.mark.parametrize("route", TABLE, ids=lambda r: r.pattern)
def test_each_route_lists_its_methods_and_guards_any_id_it_names(route: Route) -> None:
    assert route.methods and route.methods <= {"GET", "POST", "DELETE"}   # never "any method"
    if route.names_id:
        assert route.owner is not None            # an org's id in the path: the guard answers
    if route.owner is None:
        assert "{id}" not in route.segments       # no guard: carries no org's upstream id
    else:
        assert route.owner in KINDS and len(route.owner) <= 10      # fits upstream_resources
        if not route.names_id:
            assert route.methods <= {"GET", "POST"}                  # a collection: list, create
    if route.body_ids:
        assert route.json_body and "POST" in route.methods
    if "{version}" in route.segments:
        assert route.segments.index("{id}") < route.segments.index("{version}")
    for segment in route.segments:
        assert segment in PLACEHOLDERS or not {"{", "}", "%", "."} & set(segment)


def test_patterns_are_unique_and_the_catalogs_storage_paths_are_all_served() -> None:
    assert len({route.pattern for route in TABLE}) == len(TABLE)
    router = Router(default_catalog())
    served = {route.pattern for route in router.routes}
    assert set(default_catalog().claude_code.server_storage_paths) <= served


@SETTINGS
@given(data=st.data())
def test_every_pattern_is_reached_by_its_own_paths(data: st.DataObject) -> None:
    router = Router(default_catalog())
    route = data.draw(st.sampled_from(router.routes))
    values = {p: data.draw(ids) for p in PLACEHOLDERS}
    matched = router.match(concrete(route, values))
    assert matched is not None and matched.route == route
    assert matched.resource_id == (values["{id}"] if route.names_id else None)


# ------------------------------------------------------------------ served by the app
class NoUpstream:
    """A relay that fails the test if anything would be sent upstream."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise AssertionError("the upstream was contacted")

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayApp, str]]:
    settings_ = load_settings(env={}, home=tmp_path_factory.mktemp("routes") / "home")
    directory = InMemoryDirectory()
    key, _ = directory.create_key("routes-org")
    app = build_app(settings_, directory=directory, sink=InMemorySink(),
                    safety=NullSafetyQueue(), use_store=False, log_writer=CapturedLines())
    relay = NoUpstream()
    app.relay = app.ownership.relay = relay   # type: ignore[assignment]
    yield app, key


def call(app: GatewayApp, method: str, raw_path: bytes, key: str | None) -> tuple[int, Any]:
    headers = [(b"content-type", b"application/json")]
    if key:
        headers.append((b"x-api-key", key.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": raw_path.decode("latin-1"),
             "raw_path": raw_path, "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8787)}
    answer: dict[str, Any] = {"body": b""}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return answer["status"], orjson.loads(answer["body"])


def assert_api_error(status: int, body: Any, want_status: int, want_type: str) -> None:
    assert status == want_status, body
    assert body["type"] == "error" and body["error"]["type"] == want_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.mark.parametrize(("route", "method"),
                         [(r, m) for r in TABLE if r.names_id for m in sorted(r.methods)],
                         ids=lambda v: v.pattern if isinstance(v, Route) else v)
def test_an_id_the_org_does_not_own_is_a_404_before_anything_is_relayed(
    served: tuple[GatewayApp, str], route: Route, method: str
) -> None:
    app, key = served
    path = concrete(route, {"{id}": f"{route.owner}_of_another_org", "{version}": "1"})
    status, body = call(app, method, path.encode(), key)
    assert_api_error(status, body, 404, "not_found_error")
    assert app.relay.calls == 0                                 # type: ignore[attr-defined]


@pytest.mark.parametrize("route", TABLE, ids=lambda r: r.pattern)
def test_other_methods_on_a_listed_path_are_a_405(served: tuple[GatewayApp, str],
                                                   route: Route) -> None:
    app, key = served
    path = concrete(route, {p: "x_1" for p in PLACEHOLDERS})
    for method in sorted(set(ALL_METHODS) - route.methods):
        status, body = call(app, method, path.encode(), key)
        assert_api_error(status, body, 405, "invalid_request_error")


literals = sorted({s for route in TABLE for s in route.segments if s not in PLACEHOLDERS})
segments = st.one_of(st.sampled_from([*literals, "v1", "v2", "api", "x_1", ""]), ids,
                     st.text(max_size=6))


@SETTINGS
@given(parts=st.lists(segments, min_size=1, max_size=6), method=st.sampled_from(ALL_METHODS),
       with_key=st.booleans())
def test_every_other_path_is_a_404_in_the_api_format(
    served: tuple[GatewayApp, str], parts: list[str], method: str, with_key: bool
) -> None:
    app, key = served
    raw = ("/" + "/".join(parts)).encode("utf-8")
    target = request_target({"raw_path": raw, "query_string": b""})
    if not isinstance(target, RequestTarget) or app.router.match(target.path) is not None \
            or target.path in ("/healthz", "/readyz", "/metrics"):
        return                                    # refused (400), routed, or an ops path
    status, body = call(app, method, raw, key if with_key else None)
    assert_api_error(status, body, 404, "not_found_error")
    assert app.relay.calls == 0                                 # type: ignore[attr-defined]


def test_a_catalog_without_a_storage_root_does_not_serve_its_routes(tmp_path: Path) -> None:
    from dataclasses import replace

    catalog = default_catalog()
    trimmed = replace(catalog, claude_code=replace(catalog.claude_code,
                                                   server_storage_paths=("/v1/sessions",)))
    router = Router(trimmed)
    assert router.match("/v1/sessions/sesn_1") is not None
    assert router.match("/v1/code/sessions/cse_1") is None
    assert router.match("/api/claude_cli_feedback") is None
