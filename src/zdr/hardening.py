"""Keep request content out of crash output: every gateway process calls `harden_process()`.

A process that serves requests holds their content in memory (a ZDR request's only while it
runs). A core dump would copy that memory to disk, where nothing deletes it, and a debugger
attached by another process of the same user could read it live. So each process that handles
content, as it starts — `zdr serve` (the server and each `--workers` process), every safety
classifier child and the stand-in upstream — sets:

- `RLIMIT_CORE` to 0, soft and hard: the kernel writes no core file, and the process cannot raise
  the limit again without privilege. Children inherit the limit (also across `exec`).
- `PR_SET_DUMPABLE` to 0 (Linux, `prctl` through ctypes): no core dump even where the core
  pattern is a pipe to a crash collector (which may ignore the limit), and no `ptrace` attach or
  `/proc/PID/mem` read by other processes of the same user (only root). The flag is reset by
  `exec`, which is why each process sets it itself rather than inheriting it.

Elsewhere (macOS: the core limit only; Windows: nothing) what cannot be set is skipped; the
result says what was. Profiling a hardened worker (py-spy) therefore needs root.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

PR_SET_DUMPABLE = 4     # <linux/prctl.h>
PR_GET_DUMPABLE = 3


@dataclass(frozen=True, slots=True)
class Hardening:
    """What `harden_process` managed to set in this process."""

    core_limit_zero: bool
    not_dumpable: bool


def harden_process() -> Hardening:
    """Forbid core dumps of this process and (Linux) make it non-dumpable. Idempotent, cheap."""
    return Hardening(core_limit_zero=_zero_core_limit(), not_dumpable=_clear_dumpable())


def _zero_core_limit() -> bool:
    try:
        import resource
    except ImportError:         # Windows: no core files to prevent
        return False
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError):
        return False
    return True


def _prctl(option: int, value: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    result: int = libc.prctl(option, value, 0, 0, 0)
    return result


def _clear_dumpable() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        return _prctl(PR_SET_DUMPABLE, 0) == 0 and _prctl(PR_GET_DUMPABLE, 0) == 0
    return False


def is_dumpable() -> bool | None:
    """This process's dumpable flag (Linux), else None: for tests and `zdr verify`."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        return _prctl(PR_GET_DUMPABLE, 0) != 0
    return None
