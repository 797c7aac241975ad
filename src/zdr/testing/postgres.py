"""A throwaway PostgreSQL server for tests and benchmarks, started from the installed binaries.

    with PostgresServer.start() as server:
        url = server.url                      # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        db_url = server.create_database("zdr_test_store")
        ...
        server.drop_database("zdr_test_store")

`initdb` and `pg_ctl` are looked up on the PATH, then in Debian's `/usr/lib/postgresql/*/bin`. The
server refuses to run as root, so when we are root the cluster belongs to the `postgres` system
user (created if missing) and the binaries run through `runuser`. Durability is switched off
(`fsync=off`): the data is thrown away. The port is chosen free at run time; the socket lives in the
cluster folder. `start()` raises `PostgresUnavailable` with the server's own log when it cannot
start: callers (CI) must fail on it, not skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

SYSTEM_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be started; the message carries the reason and its log."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(f"{name} not found on PATH or in /usr/lib/postgresql/*/bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> list[str]:
    """The command prefix that runs a binary as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    with contextlib.suppress(KeyError):
        import pwd

        pwd.getpwnam(SYSTEM_USER)
        return ["runuser", "-u", SYSTEM_USER, "--"]
    subprocess.run(  # noqa: S603 - fixed arguments
        ["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True,  # noqa: S607
    )
    return ["runuser", "-u", SYSTEM_USER, "--"]


def _chown_to_system_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user=SYSTEM_USER)


@dataclass
class PostgresServer:
    root: Path
    port: int
    prefix: list[str]
    durable: bool = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _conninfo(self, name: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={name}"

    @classmethod
    def start(
        cls, timeout: float = 60.0, *, durable: bool = False, parent: Path | None = None
    ) -> PostgresServer:
        """Start a new cluster (under `parent`, default the temp folder). `durable=True` keeps
        fsync on (for benchmarks of commit cost)."""
        prefix = _run_as()
        root = Path(tempfile.mkdtemp(prefix="zdr-pg-", dir=parent))
        root.chmod(0o755)
        _chown_to_system_user(root)
        server = cls(root=root, port=_free_port(), prefix=prefix, durable=durable)
        server._initdb()
        server._pg_ctl_start(timeout, durable)
        return server

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own binaries and paths
            [*self.prefix, *args], capture_output=True, text=True, timeout=timeout, check=False,
            cwd=self.root,
        )

    def _initdb(self) -> None:
        done = self._run(
            _binary("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync", timeout=120,
        )
        if done.returncode != 0:
            self.remove()
            reason = done.stderr.strip() or done.stdout.strip()
            raise PostgresUnavailable(f"initdb failed: {reason}")

    def _pg_ctl_start(self, timeout: float, durable: bool) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = self.root / "server.log"
        done = self._run(
            _binary("pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-o", options,
            "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10,
        )
        if done.returncode != 0 or not self._accepts_connections(timeout):
            text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            self.stop()
            raise PostgresUnavailable(f"PostgreSQL did not start: {done.stderr.strip()}\n{text}")

    def _accepts_connections(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self._conninfo(), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self._conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self._conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def halt(self) -> None:
        """Stop the server now (every connection drops), keeping its data for `resume`: an
        outage of the database, for tests of what the gateway answers meanwhile."""
        done = self._run(_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w",
                         "stop", timeout=60)
        if done.returncode != 0:
            raise PostgresUnavailable(f"PostgreSQL did not stop: {done.stderr.strip()}")

    def resume(self, timeout: float = 60.0) -> None:
        """Start a halted server again on the same port and data (the outage is over)."""
        self._pg_ctl_start(timeout, self.durable)

    def stop(self) -> None:
        if self.data_dir.exists():
            self._run(_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w",
                      "stop", timeout=60)
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_postgres(
    *, durable: bool = False, parent: Path | None = None
) -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit."""
    server = PostgresServer.start(durable=durable, parent=parent)
    try:
        yield server
    finally:
        server.stop()
