"""Schemathesis against the admin API's own OpenAPI document (bounded examples, no deadline).

Checks: no 5xx, every status code and content type documented, every response body conforming
to its documented schema. Runs as the provider admin, so requests reach the services.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from control_world import Clock, fast_engine, make_plane, populate
from hypothesis import HealthCheck, settings
from schemathesis import checks

from zdr.control.api import build_admin_app
from zdr.control.plane import ControlPlane
from zdr.store.db import migrate


class Holder:
    plane: ControlPlane | None = None
    token = ""

    def __call__(self) -> ControlPlane:
        assert self.plane is not None
        return self.plane


HOLDER = Holder()
schema = schemathesis.openapi.from_asgi("/admin/v1/openapi.json", build_admin_app(HOLDER))
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


@pytest.fixture(scope="module", autouse=True)
def fuzz_world() -> Iterator[None]:
    folder = Path(tempfile.mkdtemp(prefix="zdr-fuzz-"))
    engine = fast_engine(folder / "zdr.sqlite3")
    migrate(engine)
    plane = make_plane(engine, Clock())
    HOLDER.token = populate(plane)["provider_admin"]
    HOLDER.plane = plane
    yield
    HOLDER.plane = None
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_admin_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {HOLDER.token}"}, checks=CHECKS)
