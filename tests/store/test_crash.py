"""Nothing acknowledged is lost: kill -9 a process writing through the sink under load, then
every exchange whose record_retained had returned is stored, with readable content."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, select
from store_data import content, make_org

from zdr.store.crypto import Keyring
from zdr.store.exchanges import SqlExchangeSink
from zdr.store.tables import contents, exchanges

HERE = Path(__file__).parent


def test_kill_9_loses_no_acknowledged_exchange(engine: Engine, keyring: Keyring) -> None:
    org = make_org(engine)
    keyring.encrypt(org, b"x", b"x")                      # the org's key exists before the load
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), url, org],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    acked: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(acked) < 400 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)                # mid-load: writers are in flight
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    acked.extend(x for x in rest.split() if x)
    assert len(acked) >= 400, err[-2000:]
    assert proc.returncode == -signal.SIGKILL
    with engine.connect() as conn:
        stored_ex = set(conn.execute(select(exchanges.c.id)).scalars())
        stored_content = set(conn.execute(select(contents.c.exchange_id)).scalars())
    missing = set(acked) - stored_ex
    assert not missing, f"{len(missing)} acknowledged exchanges lost"
    assert set(acked) <= stored_content
    assert len(stored_content) == len(stored_ex)       # never an exchange without its content
    sink = SqlExchangeSink(engine, keyring)              # "restart": a new process reads them back
    for exchange_id in acked[:: max(1, len(acked) // 20)]:
        stored = sink.read_content(exchange_id)
        assert stored is not None and stored.content == content(exchange_id)
