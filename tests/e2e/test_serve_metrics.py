"""/metrics of `zdr serve --workers N` counts the whole instance: N requests spread over the
workers read as N from whichever worker answers the scrape, a killed worker's counts stay, and
the multiprocess folder is private, fresh at start and gone at stop."""

import os
import signal
from pathlib import Path

import httpx
import pytest

from serve_process import ZdrHome, wait_for
from zdr.testing.servers import free_port

WORKERS = 3
REQUESTS = 30
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hello"}]}


def messages_counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("zdr_gateway_requests_total{") and 'surface="messages"' in line)


def send(base: str, key: str, count: int) -> None:
    for _ in range(count):      # a new connection each: the kernel spreads them over workers
        answer = httpx.post(f"{base}/v1/messages", json=BODY, timeout=20, headers={
            "x-api-key": key, "anthropic-version": "2023-06-01", "connection": "close"})
        assert answer.status_code == 200


def worker_pids(supervisor: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == supervisor \
                    and b"multiprocessing.spawn" in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_metrics_count_every_worker_of_the_instance(tmp_path):
    home = ZdrHome.fresh(tmp_path / "home")
    home.zdr("init")
    key = home.org_with_key("acme")
    port = free_port()
    folder = tmp_path / "home" / "tmp" / f"metrics-{port}"
    folder.mkdir(parents=True)
    (folder / "counter_1.db").write_bytes(b"left over from an earlier run")
    base = f"http://127.0.0.1:{port}"
    server = home.serve("--workers", str(WORKERS), port=port, start_new_session=True)
    try:
        assert wait_for(lambda: len(worker_pids(server.pid)) == WORKERS)
        assert not (folder / "counter_1.db").exists(), "the folder was not emptied at start"
        assert folder.stat().st_mode & 0o077 == 0
        send(base, key, REQUESTS)
        counting = {path.name.split("_")[-1] for path in folder.glob("counter_*.db")}
        assert len(counting) >= 2, "the requests did not reach several workers"
        assert [messages_counted(base) for _ in range(10)] == [REQUESTS] * 10

        os.kill(worker_pids(server.pid)[0], signal.SIGKILL)      # its counts stay
        assert wait_for(lambda: len(worker_pids(server.pid)) == WORKERS)
        assert messages_counted(base) == REQUESTS
        send(base, key, REQUESTS)
        assert [messages_counted(base) for _ in range(5)] == [2 * REQUESTS] * 5
    finally:
        server.stop()
    assert not folder.exists(), "the multiprocess folder outlived the gateway"
