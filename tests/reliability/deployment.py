"""A real deployment for the reliability suite: a home made with the `zdr` command line, the
stand-in upstream and `zdr serve` as separate processes (SQLite store), and the levers the suite
pulls on them: kill -9 a worker or the whole gateway, lock the database, read the stand-in's
counters. Every process started here is stopped here, by its own id."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zdr.testing.servers import free_port, port_open

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]
START_SECONDS = 60.0     # bounds a hung start; not a speed check (a loaded 2-core machine: 31 s)


@dataclass
class Org:
    name: str
    kind: str          # zdr | standard | hipaa | enterprise
    key: str = ""
    org_id: str = ""

    @property
    def retains(self) -> bool:
        return self.kind != "zdr"


def populate(home: Path, orgs: list[Org]) -> None:
    """People, orgs, arrangements and keys through the control plane's services in this process
    (what `zdr orgs …` / `zdr keys …` call; much faster than one interpreter per command)."""
    from zdr.control.plane import build_control_plane
    from zdr.control.roles import system_actor
    from zdr.settings import load_settings

    plane = build_control_plane(load_settings(env={}, home=home))
    operator = system_actor()
    plane.accounts.create_user(operator, "reviewer@example.com", provider_roles=["reviewer"])
    plane.accounts.create_user(operator, "legal@example.com", provider_roles=["legal"])
    reviewer = plane.accounts.actor_for_email("reviewer@example.com")
    for org in orgs:
        plan = "enterprise" if org.kind == "enterprise" else "api"
        org.org_id = plane.orgs.create(operator, org.name, plan).id
        if org.kind == "zdr":
            plane.arrangements.request_zdr(operator, org.name, "reliability suite")
            plane.arrangements.approve_zdr(reviewer, org.name, None, None)
        elif org.kind == "hipaa":
            plane.arrangements.accept_baa(operator, org.name, "2026-01")
        elif org.kind == "enterprise":
            plane.arrangements.set_retention(operator, org.name, 90)
        org.key = plane.keys.create(operator, org.name, None, "api", None).secret
    plane.ctx.engine.dispose()


@dataclass
class Deployment:
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    stub_port: int = 0
    gateway_port: int = 0
    stub: subprocess.Popen[bytes] | None = None
    gateway: subprocess.Popen[bytes] | None = None
    gateway_starts: int = 0
    orgs: dict[str, Org] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
        self.env.update({"ZDR_HOME": str(self.home), "PYTHONUNBUFFERED": "1"})
        self.logs = self.home / "logs"

    # -- the command line --------------------------------------------------------------------
    def zdr(self, *args: str, check: bool = True, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*ZDR, *args], env=env or self.env, capture_output=True,
                              text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"zdr {' '.join(args[:3])} failed: {done.stderr.strip()}")
        return done

    def zdr_json(self, *args: str) -> Any:
        return json.loads(self.zdr(*args, "--json").stdout)

    def initialise(self, orgs: list[Org]) -> None:
        """`zdr init` on the command line, then people, orgs, arrangements and keys (populate)."""
        self.zdr("init")
        populate(self.home, orgs)
        self.orgs.update({org.name: org for org in orgs})

    # -- processes ----------------------------------------------------------------------------
    def _spawn(self, args: list[str], name: str, env: dict[str, str] | None = None
               ) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = (self.logs / f"{name}.out").open("ab")
        with out:
            return subprocess.Popen(
                [*ZDR, *args], env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def start_stub(self) -> None:
        self.stub_port = free_port()
        self.stub = self._spawn(["stub-upstream", "--port", str(self.stub_port)], "stub")
        self._wait_port(self.stub_port, self.stub)

    def start_gateway(self, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.gateway_port = self.gateway_port or free_port()
        self.gateway = self._spawn(
            ["serve", "--port", str(self.gateway_port), "--workers", str(workers),
             "--upstream", f"http://127.0.0.1:{self.stub_port}"], "gateway", env)
        self._wait_ready(self.gateway)
        self.gateway_starts += 1

    def _wait_port(self, port: int, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if port_open(port):
                return
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"process {process.pid} did not listen on {port}")

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"http://127.0.0.1:{self.gateway_port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("the gateway did not become ready")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes of the running gateway (children of `zdr serve`)."""
        assert self.gateway is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.gateway.pid and b"multiprocessing.spawn" in cmdline:
                found.append(int(entry.name))
        return sorted(found)

    def kill_worker(self) -> int:
        """kill -9 one worker; uvicorn's supervisor starts a new one in its place."""
        pids = self.worker_pids()
        assert pids, "no gateway worker to kill"
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def kill_gateway(self) -> None:
        """kill -9 the whole gateway: its supervisor and every worker (its process group)."""
        assert self.gateway is not None
        os.killpg(self.gateway.pid, signal.SIGKILL)
        self.gateway.wait(timeout=10)
        self.gateway = None

    def stop_gateway(self) -> None:
        """A graceful stop: SIGTERM, queued writes are flushed."""
        if self.gateway is None:
            return
        self.gateway.send_signal(signal.SIGTERM)
        try:
            self.gateway.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.gateway.pid, signal.SIGKILL)
            self.gateway.wait(timeout=10)
        self.gateway = None

    def stop_stub(self) -> None:
        if self.stub is not None:
            self.stub.terminate()
            self.stub.wait(timeout=10)
            self.stub = None

    def close(self) -> None:
        if self.gateway is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.gateway.pid, signal.SIGKILL)
            self.gateway.wait(timeout=10)
            self.gateway = None
        self.stop_stub()

    def stub_stats(self) -> dict[str, int]:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.stub_port}/stub/stats", timeout=5) as answer:
            return dict(json.loads(answer.read()))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    # -- the database -------------------------------------------------------------------------
    def lock_database(self, seconds: float, locked: threading.Event) -> None:
        """Hold SQLite's write lock from another connection for `seconds` (run it in a thread):
        the store is unavailable to writers meanwhile; readers go on (WAL mode)."""
        conn = sqlite3.connect(self.home / "zdr.sqlite3", timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()
