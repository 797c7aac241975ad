"""Every process of a running `zdr serve` refuses to dump core, whatever its parent allowed.

The gateway is started as a shell with `ulimit -c unlimited` would start it, with two workers
(each with its safety classifier child) and the stand-in upstream. Then, for every process in
the tree (walked through /proc):
- `/proc/PID/limits` says "Max core file size 0 0";
- the process is not dumpable: another process of the same user, without CAP_SYS_PTRACE, cannot
  open its `/proc/PID/mem` (the kernel's check for a non-dumpable target). As root, the gateway
  and the probe both run without CAP_SYS_PTRACE, so the check means the same as for a user;
- sent SIGSEGV, it leaves no core file where the kernel writes them here (`core` in its folder).
Each check runs first on a control, an ordinary Python process started the same way: if the
control is not readable or leaves no core file, this machine cannot show that property, and that
part is skipped.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from serve_process import ZdrHome, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

PR_CAPBSET_DROP, CAP_SYS_PTRACE = 24, 19
# The multiprocessing resource tracker (a helper Python starts beside spawned processes) only
# holds names of semaphores; it inherits the zero core limit but resets the dumpable flag at exec.
NOT_OURS = "multiprocessing.resource_tracker"
PROBE = """
import json, sys
readable = {}
for pid in sys.argv[1:]:
    try:
        open(f"/proc/{pid}/mem", "rb").close()
        readable[pid] = True
    except OSError:
        readable[pid] = False
print(json.dumps(readable))
"""


def _as_a_shell_would() -> None:
    """In the child before exec: allow core files of any size; as root, give up CAP_SYS_PTRACE
    (so that dumpable and non-dumpable processes can be told apart, as for an ordinary user)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    if os.geteuid() == 0:
        ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(_children(pid))
    return pids


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _ours(root: int) -> list[int]:
    return [pid for pid in _tree(root) if NOT_OURS not in _cmdline(pid)]


def _core_limits(pid: int) -> str:
    line = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                if line.startswith("Max core file size"))
    return " ".join(line.split()[4:6])


def _mem_readable(pids: list[int]) -> dict[int, bool]:
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, pids)], capture_output=True,
                          text=True, timeout=30, check=True, preexec_fn=_as_a_shell_would)
    return {int(pid): readable for pid, readable in json.loads(done.stdout).items()}


def _crash(pid: int) -> None:
    with contextlib.suppress(OSError):      # keep a core file small, if one is written
        Path(f"/proc/{pid}/coredump_filter").write_text("0")
    os.kill(pid, signal.SIGSEGV)


def _cores(folder: Path) -> list[Path]:
    return sorted(folder.rglob("core*"))


def test_no_process_of_zdr_serve_can_dump_core(tmp_path: Path) -> None:
    home = ZdrHome.fresh(tmp_path / "home", cwd=tmp_path)
    home.zdr("init")
    secret = home.org_with_key("acme")
    served = home.serve("--workers", "2", preexec_fn=_as_a_shell_would)
    server, port = served.process, served.port
    control = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                               cwd=tmp_path / "home", preexec_fn=_as_a_shell_would)
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/messages", timeout=30, headers={
            "x-api-key": secret, "anthropic-version": "2023-06-01"}, json={
            "model": "claude-sonnet-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": "hello"}]})
        assert answer.status_code == 200
        # server, stand-in, 2 workers, 2 classifier children (+ the resource tracker)
        assert wait_for(lambda: len(_ours(server.pid)) >= 6), [_cmdline(p) for p in
                                                             _tree(server.pid)]
        ours = _ours(server.pid)
        assert _core_limits(control.pid) != "0 0"
        for pid in _tree(server.pid):
            assert _core_limits(pid) == "0 0", (_cmdline(pid), _core_limits(pid))
        readable = _mem_readable([control.pid, *ours])
        if readable.pop(control.pid):
            assert [_cmdline(pid) for pid, yes in readable.items() if yes] == []
        _crash(control.pid)
        control.wait(timeout=30)
        if not wait_for(lambda: bool(_cores(tmp_path)), timeout=10):
            pytest.skip("no core file is written here: core_pattern "
                        f"{Path('/proc/sys/kernel/core_pattern').read_text().strip()!r}")
        for core in _cores(tmp_path):
            core.unlink()
        for pid in reversed(ours):
            with contextlib.suppress(ProcessLookupError):
                _crash(pid)
        server.wait(timeout=60)
        time.sleep(1.0)
        assert _cores(tmp_path) == []
    finally:
        for process in (server, control):
            for pid in [*_children(process.pid), process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=30)
