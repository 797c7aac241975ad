"""A running `zdr serve` whose database goes away: every route answers 503 in the API's format
(the console: a 503 page), nothing is answered as if it were stored, standard error carries no
traceback and no log line carries what was sent; when the database is back, so is the gateway.
And `zdr serve` started against a store it cannot use exits 1 with one line.

On PostgreSQL the server is stopped mid-traffic (every connection drops). On SQLite the store's
file is replaced by a directory mid-traffic (as root, permissions stop nothing): connections
that still hold the old file must notice, or they would go on writing where nobody reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from store_faults import replaced_by_a_directory

from serve_process import Served, ZdrHome, wait_for
from zdr.testing.canaries import new_canary
from zdr.testing.postgres import PostgresServer
from zdr.testing.servers import free_port

pytestmark = pytest.mark.slow
STORE_DOWN_PAGE = "database is unavailable"


@dataclass
class Live:
    served: Served
    secret: str
    token: str
    password: str

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def home(self) -> Path:
        return self.served.home.path


def _start(tmp_path: Path, db_url: str | None) -> Live:
    home = ZdrHome.fresh(tmp_path / "home", PYTHONUNBUFFERED="1",
                         **({"ZDR_DB_URL": db_url} if db_url else {}))
    init = json.loads(home.zdr("init", "--json").stdout)
    secret = home.org_with_key("acme")
    served = home.serve("--workers", "2")
    return Live(served, secret, init["admin_token"], init["admin_password"])


def _routes(live: Live, canary: str) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    """One request per surface, each carrying the canary where a client could put content."""
    api = {"x-api-key": live.secret, "anthropic-version": "2023-06-01"}
    admin = {"authorization": f"Bearer {live.token}"}
    body = {"model": "claude-sonnet-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": f"hello {canary}"}]}

    def console_sign_in(web: httpx.Client) -> httpx.Response:
        form = web.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text[:300]
        return web.post("/console/login", data={
            "email": "admin@localhost", "password": live.password, "next": "/",
            "csrf_token": token.group(1)})

    return {
        "messages": lambda c: c.post("/v1/messages", headers=api, json=body),
        "messages (stream)": lambda c: c.post("/v1/messages", headers=api,
                                              json={**body, "stream": True}),
        "count_tokens": lambda c: c.post("/v1/messages/count_tokens", headers=api, json=body),
        "models": lambda c: c.get("/v1/models", headers=api),
        "files": lambda c: c.get("/v1/files", headers=api),
        "file by id": lambda c: c.get(f"/v1/files/file_{canary}", headers=api),
        "batches": lambda c: c.get("/v1/messages/batches", headers=api),
        "admin me": lambda c: c.get("/admin/v1/me", headers=admin),
        "admin orgs": lambda c: c.get("/admin/v1/orgs", headers=admin),
        "admin create org": lambda c: c.post("/admin/v1/orgs", headers=admin,
                                             json={"name": canary, "plan": "api"}),
        "console sign-in": console_sign_in,
    }


def _all_answer(live: Live, canary: str) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=live.url, timeout=60, follow_redirects=False) as web:
        return {name: send(web) for name, send in _routes(live, canary).items()}


def _assert_outage_answers(answers: dict[str, httpx.Response], canary: str) -> None:
    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.status_code, answer.text[:300])
        assert canary not in answer.text, name
        if name.startswith("console"):
            assert STORE_DOWN_PAGE in answer.text and "Traceback" not in answer.text, name
            continue
        assert answer.headers["content-type"].startswith("application/json"), name
        error = answer.json()
        assert error["type"] == "error" and error["error"]["type"] == "api_error", name
        assert error["error"]["message"], name


def _assert_serving(live: Live, canary: str) -> None:
    answers = _all_answer(live, canary)
    bad = {name: a.status_code for name, a in answers.items()
           if a.status_code >= 500 or (name == "console sign-in" and a.status_code != 303)}
    assert bad == {}, bad


def _assert_quiet(live: Live, canaries: list[str]) -> None:
    """After the gateway stopped: no traceback in what it printed; no canary in the logs."""
    errors = live.served.output()
    assert "Traceback" not in errors and "Exception in ASGI application" not in errors
    logs = errors + "".join(p.read_text() for p in (live.home / "logs").glob("*"))
    assert [c for c in canaries if c in logs] == []
    assert "store_unavailable" in logs


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    server = PostgresServer.start()     # its own server: this test stops it
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
def test_postgres_stopped_mid_traffic(tmp_path: Path, postgres: PostgresServer) -> None:
    live = _start(tmp_path, postgres.create_database("zdr_outage"))
    canaries = [new_canary("UP"), new_canary("DOWN"), new_canary("BACK")]
    try:
        _assert_serving(live, canaries[0])
        postgres.halt()
        time.sleep(2.5)         # past the key cache: the keys themselves cannot be checked
        _assert_outage_answers(_all_answer(live, canaries[1]), canaries[1])
        postgres.resume()
        assert wait_for(lambda: httpx.get(live.url + "/v1/models", headers={
            "x-api-key": live.secret}).status_code == 200, timeout=30)
        _assert_serving(live, canaries[2])
    finally:
        live.served.stop()
    _assert_quiet(live, canaries)


def test_sqlite_file_replaced_by_a_directory_mid_traffic(tmp_path: Path) -> None:
    live = _start(tmp_path, None)
    store = live.home / "zdr.sqlite3"
    canaries = [new_canary("UP"), new_canary("DOWN"), new_canary("BACK")]
    try:
        _assert_serving(live, canaries[0])
        with replaced_by_a_directory(store):
            time.sleep(2.5)
            _assert_outage_answers(_all_answer(live, canaries[1]), canaries[1])
        _assert_serving(live, canaries[2])
    finally:
        live.served.stop()
    _assert_quiet(live, canaries)


# ---- a store that cannot be used at start ---------------------------------------------------

def _serve_once(env_extra: dict[str, str], tmp_path: Path,
                *args: str) -> subprocess.CompletedProcess[str]:
    home = ZdrHome.fresh(tmp_path / "home", **env_extra)
    return home.zdr("serve", "--port", str(free_port()), *args, check=False)


def test_serve_against_an_unreachable_postgres_exits_with_one_line(tmp_path: Path) -> None:
    ZdrHome.fresh(tmp_path / "home").zdr("init")
    port = free_port()      # nothing listens there
    done = _serve_once({}, tmp_path, "--db",
                       f"postgresql://zdr:pw-{new_canary()}@127.0.0.1:{port}/zdr")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "pw-" not in done.stderr + done.stdout


@pytest.mark.parametrize(("where", "initialized"), [
    ("under a regular file", True), ("a directory", True),
    ("in a folder that does not exist", True), ("in a folder that does not exist", False),
])
def test_serve_against_an_unusable_sqlite_path_exits_with_one_line(
        tmp_path: Path, where: str, initialized: bool) -> None:
    if initialized:
        ZdrHome.fresh(tmp_path / "home").zdr("init")
    if where == "a directory":
        path = tmp_path / "store.sqlite3"
        path.mkdir()
    elif where == "in a folder that does not exist":
        path = tmp_path / "nowhere" / "store.sqlite3"
    else:
        (tmp_path / "plain-file").write_text("not a folder")
        path = tmp_path / "plain-file" / "store.sqlite3"
    done = _serve_once({"ZDR_DB_URL": f"sqlite:///{path}"}, tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], done.stderr


def test_serve_with_a_database_but_no_master_key_exits_with_one_line(tmp_path: Path) -> None:
    done = _serve_once({"ZDR_DB_URL": "postgresql://zdr:secret-pw@db.internal:6543/zdr"},
                       tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "db.internal:6543" in lines[0] and "master key" in lines[0]
    assert "secret-pw" not in done.stderr
