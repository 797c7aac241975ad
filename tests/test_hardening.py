"""`harden_process`: no core files and (Linux) not dumpable, in the process that calls it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

CHILD = """
import json, resource
from zdr.hardening import harden_process, is_dumpable
before = is_dumpable()
done = harden_process()
print(json.dumps({"before": before, "after": is_dumpable(), "done": [done.core_limit_zero,
                  done.not_dumpable], "limit": resource.getrlimit(resource.RLIMIT_CORE)}))
"""


def _allow_core_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_hardened_process_cannot_dump_core_nor_raise_the_limit_again() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          check=True, timeout=60, preexec_fn=_allow_core_files)
    report = json.loads(done.stdout)
    assert report == {"before": True, "after": False, "done": [True, True], "limit": [0, 0]}


def test_hardening_twice_is_harmless() -> None:
    code = "from zdr.hardening import harden_process as h; h(); print(h().core_limit_zero)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "True"
