"""The real Node.js clients (Claude Code CLI, TypeScript SDK) at the versions pinned in
tests/e2e/clients/package-lock.json, installed with `npm ci` into `.cache/clients/` at the
repository's root and reused while the lock file is unchanged (`.ci/run` installs them first).

No npm, or no registry: the tests that need the clients FAIL with npm's reason, never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PINNED = Path(__file__).parent / "clients"
REPO = Path(__file__).resolve().parents[2]
INSTALL_DIR = Path(os.environ.get("ZDR_CLIENTS_DIR", REPO / ".cache" / "clients"))
MANIFESTS = ("package.json", "package-lock.json")
NPM_TIMEOUT = 1200


def _pinned_version(package: str) -> str:
    import json

    lock = json.loads((PINNED / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


CLAUDE_CODE_VERSION = _pinned_version("@anthropic-ai/claude-code")
SDK_VERSION = _pinned_version("@anthropic-ai/sdk")


def claude_bin(install_dir: Path = INSTALL_DIR) -> Path:
    return install_dir / "node_modules" / ".bin" / "claude"


def _up_to_date(install_dir: Path) -> bool:
    stamp = install_dir / ".installed-lock.json"
    return (stamp.is_file() and claude_bin(install_dir).exists()
            and stamp.read_bytes() == (PINNED / "package-lock.json").read_bytes())


def install(install_dir: Path = INSTALL_DIR) -> Path:
    """The pinned clients under `install_dir` (installing them if needed); fails the test with
    npm's own words when they cannot be installed."""
    if not _up_to_date(install_dir):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: the Claude Code and TypeScript SDK tests need "
                        "Node.js and npm (apt-get install nodejs npm)", pytrace=False)
        install_dir.mkdir(parents=True, exist_ok=True)
        for name in MANIFESTS:
            shutil.copyfile(PINNED / name, install_dir / name)
        done = subprocess.run(
            [npm, "ci", "--prefix", str(install_dir), "--no-audit", "--no-fund"],
            capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False)
        if done.returncode != 0:
            pytest.fail(f"`npm ci` of the pinned clients failed ({done.returncode}):\n"
                        f"{done.stderr[-3000:]}", pytrace=False)
        shutil.copyfile(PINNED / "package-lock.json", install_dir / ".installed-lock.json")
    home = install_dir / ".home"     # whatever the CLI writes at start stays in the cache
    home.mkdir(exist_ok=True)
    version = subprocess.run([str(claude_bin(install_dir)), "--version"], capture_output=True,
                             text=True, timeout=60, check=False,
                             env={"PATH": os.environ.get("PATH", ""), "HOME": str(home),
                                  "DISABLE_AUTOUPDATER": "1"}).stdout
    if not version.startswith(CLAUDE_CODE_VERSION):
        pytest.fail(f"the installed Claude Code says {version!r}, not {CLAUDE_CODE_VERSION}: "
                    f"remove {install_dir} and run again", pytrace=False)
    return install_dir
