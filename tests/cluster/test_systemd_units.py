"""The systemd units in deploy/systemd: systemd reads them without a complaint, they run real
`zdr` commands with real options, and every one is hardened the same way."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from zdr.cli import app

ROOT = Path(__file__).parents[2]
UNITS = ROOT / "deploy" / "systemd"
SERVICES = ["zdr-gateway@.service", "zdr-sweeper.service"]
ZDR_BINARY = "/opt/zdr/venv/bin/zdr"
# Each service: no core dumps (content in memory would be written out), a private /tmp, a
# read-only system, no privilege gain, no capabilities, its own files private.
HARDENING = {
    "LimitCORE": "0", "PrivateTmp": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
    "NoNewPrivileges": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
    "UMask": "0077", "RestrictSUIDSGID": "yes", "SystemCallFilter": "@system-service",
}


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name, encoding="utf-8")
    return parser["Service"]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_hardened(name: str) -> None:
    section = service(name)
    for key, value in HARDENING.items():
        assert section.get(key) == value, f"{name}: {key}={section.get(key)!r}"
    assert section["LoadCredential"] == "master.key:/etc/zdr/master.key"
    assert section["User"] == "zdr"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_a_real_zdr_command(name: str) -> None:
    """ExecStart's command and options exist (the instance name %i stands for a port)."""
    words = shlex.split(service(name)["ExecStart"].replace("%i", "8801"))
    assert words[0] == ZDR_BINARY
    command: object = typer.main.get_command(app)
    args = words[1:]
    while args and args[0] in getattr(command, "commands", {}):
        command = command.commands[args.pop(0)]  # type: ignore[attr-defined]
    options = {opt for param in command.params for opt in param.opts}  # type: ignore[attr-defined]
    for word in args:
        if word.startswith("--"):
            assert word in options, f"{name}: zdr has no option {word}"


def test_the_timer_starts_the_sweeper() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(UNITS / "zdr-sweeper.timer", encoding="utf-8")
    assert parser["Timer"]["OnUnitInactiveSec"]
    assert parser["Install"]["WantedBy"] == "timers.target"
    gateway = (UNITS / "zdr-gateway@.service").read_text(encoding="utf-8").splitlines()
    assert "Environment=ZDR_PURGE_INTERVAL_SECONDS=0" in gateway    # instances leave it to it


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_reads_the_units_without_a_warning(tmp_path: Path) -> None:
    zdr = Path(sys.executable).with_name("zdr")
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8").replace(ZDR_BINARY, str(zdr))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "./zdr-gateway@8801.service",
         "./zdr-sweeper.service", "./zdr-sweeper.timer"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
