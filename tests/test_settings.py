"""The home's config file: written private by `zdr init`, and refused by `zdr serve` when it
holds a secret that other users can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from zdr.control.bootstrap import init_home
from zdr.settings import exposed_config_secrets, load_settings

ZDR = [sys.executable, "-c", "from zdr.cli import main; main()"]


def test_init_writes_the_config_file_private(tmp_path: Path) -> None:
    old = os.umask(0o022)           # the usual umask: files would be 0644
    try:
        init_home(load_settings(env={}, home=tmp_path / "home"), "admin@localhost")
    finally:
        os.umask(old)
    config = tmp_path / "home" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert exposed_config_secrets(tmp_path / "home") is None


@pytest.mark.parametrize(("text", "named"), [
    ('provider_api_key = "sk-ant-x"\n', "provider_api_key"),     # the upstream credential
    ('master_key = "AAAA"\n', "master_key"),
    ('session_secret = "s"\n', "session_secret"),
    ('metrics_token = "t"\n', "metrics_token"),
    ('db_url = "postgresql://zdr:pw@db/zdr"\n', "db_url's password"),
    ('port = 8787\ndb_url = "postgresql://zdr@db/zdr"\n', None),    # nothing secret
])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_a_config_file_with_secrets_must_be_private(tmp_path: Path, text: str,
                                                    named: str | None, mode: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    config.chmod(mode)
    refusal = exposed_config_secrets(tmp_path)
    if named is None or mode == 0o600:
        assert refusal is None
    else:
        assert refusal is not None and named in refusal and f"chmod 600 {config}" in refusal
        assert "pw" not in refusal.replace("password", "") and "sk-ant" not in refusal


def test_serve_refuses_a_readable_config_file_with_a_secret(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('provider_api_key = "sk-ant-secret-123"\n')
    (home / "config.toml").chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    done = subprocess.run([*ZDR, "serve", "--home", str(home), "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "chmod 600" in lines[0] and "sk-ant" not in done.stderr
