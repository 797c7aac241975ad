"""Fixtures shared by every test folder. Only the PostgreSQL server lives here.

`postgres_url`: a throwaway PostgreSQL server started once per session from the installed
binaries (`zdr.testing.postgres`). When it cannot start, the tests that use it FAIL with the
server's reason — never skip: CI must run the PostgreSQL suite for real. Each test module makes
its own database on it (`PostgresServer.create_database`) and drops it when done; the
`postgres_server` fixture gives access to those helpers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zdr.testing.postgres import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as error:
        pytest.fail(f"PostgreSQL could not start for the test suite: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of the session's PostgreSQL server (its `postgres` database; make your own)."""
    return postgres_server.url
