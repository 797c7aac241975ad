"""`LocalCluster`: the multi-instance deployment on one machine, for a first try and for tests.

    cluster = LocalCluster(instances=2, workers=2)
    cluster.start()     # PostgreSQL, a home, the stand-in upstream, the instances, nginx
    cluster.url         # nginx: http://127.0.0.1:PORT
    ...
    cluster.stop()      # everything it started, by process id; its folder is removed

Every part is a separate process, as in production: a PostgreSQL server from the installed
binaries (`zdr.testing.postgres`), `zdr serve --workers N` per instance (own port, log file and
temp folder; one home, one master key, one database), `zdr stub-upstream` unless an upstream is
given, and nginx in front (`zdr.cluster.nginx`). Levers for tests: `kill_instance` (kill -9 of a
whole instance), `add_instance` (started late, nginx reloaded), `restart_postgres`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zdr.cluster.nginx import Nginx
from zdr.testing.postgres import PostgresServer
from zdr.testing.servers import free_port, port_open

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]
START_SECONDS = 60.0
DATABASE = "zdr"
# What the cluster sets for each instance; any other ZDR_ variable of the caller's environment
# (a provider key, timeouts) reaches the instances unchanged.
OWN_VARIABLES = ("ZDR_HOME", "ZDR_DB_URL", "ZDR_HOST", "ZDR_PORT", "ZDR_WORKERS",
                 "ZDR_LOG_PATH", "ZDR_TEMP_DIR", "ZDR_UPSTREAM_URL")


class ClusterError(RuntimeError):
    """A part of the cluster did not start; the message says which and where its log is."""


@dataclass
class Instance:
    number: int
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.folder / "gateway.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalCluster:
    instances_at_start: int = 2
    workers: int = 2
    port: int | None = None                 # nginx's port; default: a free one
    upstream: str | None = None             # default: the stand-in upstream, started here
    env: Mapping[str, str] | None = None    # the instances' environment (default: ours)
    settings: Mapping[str, str] = field(default_factory=dict)   # extra ZDR_* for instances
    root: Path = field(init=False)
    postgres: PostgresServer | None = field(init=False, default=None)
    database_url: str = field(init=False, default="")
    nginx: Nginx | None = field(init=False, default=None)
    instances: list[Instance] = field(init=False, default_factory=list)
    stub: subprocess.Popen[bytes] | None = field(init=False, default=None)
    admin_password: str | None = field(init=False, default=None)
    admin_token: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Traversable (not listable) by the postgres and www-data users the servers run as.
        self.root = Path(tempfile.mkdtemp(prefix="zdr-cluster-"))
        self.root.chmod(0o711)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def url(self) -> str:
        assert self.nginx is not None, "the cluster is not started"
        return f"http://127.0.0.1:{self.nginx.port}"

    @property
    def log_folders(self) -> list[Path]:
        """Every folder the cluster's processes write logs or temporary files to."""
        return [self.root / "instances", self.root / "nginx", self.home]

    # ------------------------------------------------------------------ start and stop
    def start(self) -> None:
        try:
            self._start_database()
            self._init_home()
            if self.upstream is None:
                self._start_stub()
            for _ in range(self.instances_at_start):
                self._start_instance(self._new_instance())
            for instance in self.instances:
                self._wait_ready(instance)
            self.nginx = Nginx(self.root / "nginx", self.port or free_port(),
                               [i.address for i in self.instances])
            self.nginx.start()
        except BaseException:
            self.stop()
            raise

    def stop(self, *, remove: bool = True) -> None:
        """Stop every process the cluster started (instances gracefully: queues are flushed)."""
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None
        for instance in self.instances:
            self._stop_instance(instance)
        if self.stub is not None:
            self.stub.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stub.wait(timeout=10)
            self.stub = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the parts
    def _start_database(self) -> None:
        # Durable: a commit is on disk before it returns, so a crash of the server (the storm's
        # restart) loses nothing that was answered as stored.
        self.postgres = PostgresServer.start(parent=self.root, durable=True)
        self.database_url = self.postgres.create_database(DATABASE)

    def _init_home(self) -> None:
        from zdr.control.bootstrap import init_home
        from zdr.settings import load_settings

        self.home.mkdir(mode=0o700)
        config = self.home / "config.toml"
        config.write_text(f'# The local cluster\'s home (zdr cluster up).\n'
                          f'db_url = "{self.database_url}"\n', encoding="utf-8")
        config.chmod(0o600)
        result = init_home(load_settings(env={}, home=self.home), "admin@localhost")
        self.admin_password, self.admin_token = result.admin_password, result.admin_token

    def _spawn(self, args: list[str], out: Path, env: Mapping[str, str]
               ) -> subprocess.Popen[bytes]:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("ab") as stream:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and command
                [*ZDR, *args], env=dict(env), stdout=stream, stderr=subprocess.STDOUT,
                start_new_session=True)

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        for name in OWN_VARIABLES:
            env.pop(name, None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start_stub(self) -> None:
        port = free_port()
        self.stub = self._spawn(["stub-upstream", "--port", str(port)],
                                self.root / "stub" / "stub.out", self._base_env())
        deadline = time.monotonic() + START_SECONDS
        while not port_open(port):
            if self.stub.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"the stand-in upstream did not start (log: {self.root}/stub)")
            time.sleep(0.05)
        self.upstream = f"http://127.0.0.1:{port}"

    def _new_instance(self) -> Instance:
        number = len(self.instances) + 1
        instance = Instance(number, free_port(), self.root / "instances" / str(number))
        self.instances.append(instance)
        return instance

    def instance_env(self, instance: Instance) -> dict[str, str]:
        env = self._base_env()
        env.update({
            "ZDR_HOME": str(self.home),
            "ZDR_LOG_PATH": str(instance.log_file),
            "ZDR_TEMP_DIR": str(instance.folder / "tmp"),
            # Only nginx (on loopback) may name the client's address (X-Forwarded-For).
            "ZDR_FORWARDED_ALLOW_IPS": "127.0.0.1",
        })
        env.update(self.settings)
        return env

    def _start_instance(self, instance: Instance) -> None:
        assert self.upstream is not None
        db_url = f"{self.database_url}?application_name=zdr-instance-{instance.number}"
        instance.folder.mkdir(parents=True, exist_ok=True)
        instance.process = self._spawn(
            ["serve", "--host", "127.0.0.1", "--port", str(instance.port), "--workers",
             str(self.workers), "--upstream", self.upstream, "--db", db_url],
            instance.folder / "serve.out", self.instance_env(instance))

    def _wait_ready(self, instance: Instance) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if not instance.running:
                break
            with contextlib.suppress(OSError), urllib.request.urlopen(  # noqa: S310 - loopback
                    f"{instance.url}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.1)
        raise ClusterError(f"instance {instance.number} did not become ready "
                           f"(log: {instance.folder / 'serve.out'})")

    def _stop_instance(self, instance: Instance) -> None:
        process, instance.process = instance.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    # ------------------------------------------------------------------ levers (faults)
    def kill_instance(self, number: int) -> None:
        """kill -9 a whole instance: its supervisor and every worker (its process group)."""
        instance = self.instances[number - 1]
        assert instance.process is not None, f"instance {number} is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(instance.process.pid, signal.SIGKILL)
        instance.process.wait(timeout=10)
        instance.process = None

    def stop_instance(self, number: int) -> None:
        """A graceful stop (SIGTERM): the instance finishes its requests and flushes its writes."""
        self._stop_instance(self.instances[number - 1])

    def restart_instance(self, number: int) -> None:
        instance = self.instances[number - 1]
        self._start_instance(instance)
        self._wait_ready(instance)

    def add_instance(self) -> Instance:
        """Start one more instance (the schema is already migrated), then reload nginx."""
        instance = self._new_instance()
        self._start_instance(instance)
        self._wait_ready(instance)
        assert self.nginx is not None
        self.nginx.reload([i.address for i in self.instances])
        return instance

    def restart_postgres(self, down_seconds: float = 1.0) -> None:
        """Stop the database at once (every connection drops), then start it again."""
        assert self.postgres is not None
        self.postgres.halt()
        time.sleep(down_seconds)
        self.postgres.resume()
