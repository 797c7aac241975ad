"""A live `zdr serve` for end-to-end tests, as a user runs it from a shell:

    home = ZdrHome.fresh(tmp_path / "home")      # ZDR_* of the test's environment left out
    home.zdr("init")
    secret = home.org_with_key("acme")
    with home.serve("--workers", "2") as served:   # started, ready (/readyz 200)
        httpx.get(served.url + "/v1/models", headers={"x-api-key": secret})
    served.output()                                # what it printed (stdout and stderr)

The stand-in upstream `zdr serve` starts itself listens on `home.stub_port`. A server is stopped
with SIGTERM (logs flushed, the store's queue drained), killed if it outlives `timeout`. Its output
goes to a file, never a pipe: a full pipe would stall it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from zdr.testing.servers import free_port, port_open

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]
START_TIMEOUT = 60.0


def wait_for(predicate: Callable[[], bool], timeout: float = START_TIMEOUT,
             every: float = 0.1) -> bool:
    """Whether `predicate()` became true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def clean_environment() -> dict[str, str]:
    """The test's environment without zdr's settings (nor a multiprocess metrics folder)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("ZDR_") and k != "PROMETHEUS_MULTIPROC_DIR"}


@dataclass
class ZdrHome:
    path: Path
    env: dict[str, str]
    cwd: Path | None = None

    @classmethod
    def fresh(cls, path: Path, cwd: Path | None = None, **settings: str) -> ZdrHome:
        """A home at `path` (made by `zdr init` or the test), its stand-in on a free port."""
        env = clean_environment()
        env.update(ZDR_HOME=str(path), ZDR_STUB_PORT=str(free_port()), **settings)
        return cls(path, env, cwd)

    @property
    def stub_port(self) -> int:
        return int(self.env["ZDR_STUB_PORT"])

    def zdr(self, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`zdr ARGS` on this home (CalledProcessError when it fails and `check`)."""
        return subprocess.run([*ZDR, *args], env=self.env, cwd=self.cwd, input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=check)

    def zdr_json(self, *args: str) -> Any:
        return json.loads(self.zdr(*args, "--json").stdout)

    def org_with_key(self, name: str, plan: str = "api") -> str:
        """A new organization and an API key of it: the key's secret."""
        self.zdr("orgs", "create", name, "--plan", plan)
        return str(self.zdr_json("keys", "create", "--org", name)["secret"])

    def serve(self, *args: str, port: int | None = None, output: Path | None = None,
              ready: bool = True, **popen: Any) -> Served:
        """`zdr serve --port PORT ARGS` on this home; waited for until it is ready unless
        `ready` is False. `popen`: more for `subprocess.Popen` (preexec_fn, start_new_session)."""
        port = port or free_port()
        output = output or self.path.parent / f"serve-{port}.out"
        with output.open("wb") as sink:
            process = subprocess.Popen([*ZDR, "serve", "--port", str(port), *args], env=self.env,
                                       cwd=self.cwd, stdout=sink, stderr=subprocess.STDOUT,
                                       **popen)
        served = Served(self, port, process, output)
        if ready:
            try:
                served.wait_ready()
            except BaseException:
                served.stop()
                raise
        return served


@dataclass
class Served:
    home: ZdrHome
    port: int
    process: subprocess.Popen[bytes]
    output_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until it listens and answers /readyz with 200; fails with its output if it exits."""
        started = wait_for(lambda: port_open(self.port) or self.process.poll() is not None,
                           timeout)
        assert started and self.process.poll() is None, \
            f"zdr serve did not start:\n{self.output()[-3000:]}"
        assert wait_for(lambda: httpx.get(self.url + "/readyz").status_code == 200, timeout), \
            "zdr serve did not become ready"

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then its exit code (killed if it has not exited within `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)

    def output(self) -> str:
        """What it printed so far (standard output and error)."""
        return self.output_path.read_text(errors="replace")

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
