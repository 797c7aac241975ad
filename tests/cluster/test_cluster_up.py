"""`zdr cluster up` as a user runs it (README): it prints nginx's URL and the home to use, the
cluster answers through nginx, and Ctrl-C stops every process it started and removes its folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from zdr.testing.servers import port_open

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]


def processes() -> dict[tuple[int, str], int]:
    """(pid, start time) -> parent pid of every process: the start time tells a reused pid."""
    found: dict[tuple[int, str], int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[(int(entry.name), fields[19])] = int(fields[1])
    return found


def descendants(root: int) -> set[tuple[int, str]]:
    """Every process whose parent chain leads to `root`."""
    table = processes()
    found: set[tuple[int, str]] = set()
    frontier = {root}
    while frontier:
        new = {key for key, parent in table.items() if parent in frontier} - found
        found |= new
        frontier = {pid for pid, _ in new}
    return found


def still_running(started: set[tuple[int, str]]) -> set[tuple[int, str]]:
    deadline = time.monotonic() + 20      # a worker's classifier child exits after its parent
    while True:
        alive = started & set(processes())
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.mark.slow
def test_cluster_up_serves_then_cleans_up_on_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    up = subprocess.Popen([*ZDR, "cluster", "up", "--instances", "2", "--workers", "1"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("zdr: Ctrl-C"):
                break
        text = "".join(lines)
        url = re.search(r"cluster ready at (http://127\.0\.0\.1:\d+)", text)
        root = re.search(r"starting the cluster in (\S+)", text)
        assert url and root, text
        assert text.count("zdr:   instance ") == 2
        assert "password (shown once)" in text
        health = httpx.get(f"{url.group(1)}/healthz", timeout=10)
        assert health.status_code == 200
        unauthenticated = httpx.post(f"{url.group(1)}/v1/messages", json={}, timeout=10)
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]["type"] == "authentication_error"
        started = descendants(up.pid)
        assert len(started) >= 4
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=120)
    assert up.returncode == 0
    assert not Path(root.group(1)).exists(), "the cluster's folder outlived it"
    assert not port_open(int(url.group(1).rsplit(":", 1)[1]))
    alive = still_running(started)
    assert not alive, f"processes outlived the cluster: {alive}"
