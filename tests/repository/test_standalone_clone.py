"""A fresh clone of the committed repository, alone in an empty folder, passes the documentation
tests: nothing it needs lives outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOC_TESTS = ("tests/repository/test_repository_docs.py", "tests/cli/test_cli_docs.py",
             "tests/control/test_docs.py")


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


@pytest.mark.slow
def test_a_fresh_clone_passes_the_documentation_tests(tmp_path: Path) -> None:
    try:
        head = git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: there is no committed repository to clone")
    clone = tmp_path / "clone"                    # the only thing in its folder
    git("clone", "--quiet", "--no-checkout", str(ROOT), str(clone), cwd=tmp_path)
    git("checkout", "--quiet", head, cwd=clone)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ZDR_", "PYTEST_", "PYTHON"))}
    env["PYTHONPATH"] = str(clone / "src")
    imported = subprocess.run([sys.executable, "-c", "import zdr; print(zdr.__file__)"],
                              cwd=clone, env=env, capture_output=True, text=True, check=True)
    assert Path(imported.stdout.strip()).is_relative_to(clone / "src"), imported.stdout
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *DOC_TESTS], cwd=clone, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
