"""The README's first run works as written: `make run` in one terminal (here: `zdr init
--if-missing` and `zdr serve` on free ports, which is what it runs), and the second terminal's
block, run by bash as it stands, sees `zdr-retention: 30d` and then, once a reviewer approved ZDR,
`zdr-retention: zero`; afterwards `zdr verify` finds the deployment clean."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from zdr.testing.servers import free_port, port_open

README = Path(__file__).parents[2] / "README.md"
BIN = Path(sys.executable).parent
SECTION = "## First run"


def second_terminal_block() -> str:
    """The second shell block of the README's first-run section (the first is `make run`)."""
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks[0].strip() == "make run", blocks[0]
    return blocks[1]


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_the_readme_first_run_turns_a_standard_org_into_a_zdr_org(tmp_path: Path) -> None:
    assert (BIN / "zdr").exists(), f"the zdr command is expected next to {sys.executable}"
    assert shutil.which("curl"), "the README's first run uses curl"
    port, stub_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZDR_")}
    env.update(ZDR_HOME=str(tmp_path / "zdr-home"), ZDR_STUB_PORT=str(stub_port),
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    subprocess.run(["zdr", "init", "--if-missing"], env=env, cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    server = subprocess.Popen(["zdr", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: port_open(port) and httpx.get(
            f"http://127.0.0.1:{port}/readyz").status_code == 200), "the gateway did not start"
        script = second_terminal_block().replace("127.0.0.1:8787", f"127.0.0.1:{port}")
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stdout + run.stderr
        seen = [line.strip() for line in run.stdout.splitlines()
                if line.lower().startswith("zdr-retention")]
        assert seen == ["zdr-retention: 30d", "zdr-retention: zero"], run.stdout
        assert "zdr=approved (in force)" in run.stdout
        verify = subprocess.run(["zdr", "verify", "--canary", "not-a-word-anyone-sent"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
