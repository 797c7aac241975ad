"""zdr-gateway as a benchmark target: the stand-in upstream's command, a fresh home with a ZDR org
and a standard org (one API key each), and the `zdr serve` command.

Everything goes through the `zdr` command line, as a user would do it (docs/DESIGN.md §3a).
`BENCH_STUB_COMMAND` (a shell command with `{port}` and `{chunks}`) replaces the stand-in, e.g. to
measure against another upstream on a bigger machine.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

ZDR_ORG = "bench-zdr"
STANDARD_ORG = "bench-standard"
REVIEWER = "reviewer@bench.invalid"


def zdr_command(python: str) -> list[str]:
    script = Path(python).parent / "zdr"
    return [str(script)] if script.exists() else [python, "-m", "zdr.cli"]


def stub_command(python: str, port: int, chunks: int) -> list[str]:
    """The stand-in, answering a fixed 200-character reply: `chunks` deltas of equal size."""
    override = os.environ.get("BENCH_STUB_COMMAND")
    if override:
        return shlex.split(override.format(port=port, chunks=chunks))
    reply = ("Here is a short answer. " * 9)[:200]
    return [
        *zdr_command(python),
        "stub-upstream",
        "--port",
        str(port),
        "--chunks",
        str(chunks),
        "--output",
        reply,
    ]


def _zdr(python: str, home: Path, *args: str, stdin: str | None = None) -> Any:
    env = {**os.environ, "ZDR_HOME": str(home)}
    done = subprocess.run(
        [*zdr_command(python), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"zdr {' '.join(args[:2])} failed: {done.stderr.strip()[-400:]}")
    if "--json" in args:
        return json.loads(done.stdout)
    return done.stdout


def _key_of(created: Any) -> str:
    """The secret of a `zdr keys create --json` answer, whatever the field is called."""
    if isinstance(created, dict):
        for name in ("key", "secret", "api_key", "token", "value"):
            if isinstance(created.get(name), str):
                return str(created[name])
        for value in created.values():
            if isinstance(value, str) and value.startswith("sk-"):
                return value
    raise RuntimeError(f"no key in `zdr keys create --json` output (fields: {sorted(created)})")


def prepare_home(python: str, home: Path) -> dict[str, str]:
    """A new home, a ZDR org (approved, in force now) and a standard org; returns target → key."""
    _zdr(python, home, "init", "--json")
    for org in (ZDR_ORG, STANDARD_ORG):
        _zdr(python, home, "orgs", "create", org, "--plan", "api", "--json")
    _zdr(python, home, "orgs", "request-zdr", ZDR_ORG, "--reason", "benchmark", "--json")
    # Four eyes: the reviewer who approves is not the operator who requested.
    _zdr(
        python,
        home,
        "users",
        "create",
        REVIEWER,
        "--provider-role",
        "reviewer",
        "--password-stdin",
        "--json",
        stdin="bench-reviewer-password\n",
    )
    _zdr(python, home, "orgs", "approve-zdr", ZDR_ORG, "--as", REVIEWER, "--json")
    return {
        "zdr-zdr": _key_of(_zdr(python, home, "keys", "create", "--org", ZDR_ORG, "--json")),
        "zdr-standard": _key_of(
            _zdr(python, home, "keys", "create", "--org", STANDARD_ORG, "--json")
        ),
    }


def serve_command(python: str, port: int, upstream: str, workers: int) -> list[str]:
    return [
        *zdr_command(python),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--upstream",
        upstream,
        "--workers",
        str(workers),
    ]
