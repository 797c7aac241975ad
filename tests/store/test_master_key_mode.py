"""The master key file must be private to its owner: a group- or world-readable file is refused
with a one-line message telling the operator to `chmod 600` it; a key from the environment is not
a file and is accepted."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from zdr.settings import load_settings
from zdr.store.crypto import MasterKeyError, create_master_key_file, load_master_key


@pytest.mark.parametrize("mode", [
    0o644,   # world-readable: the usual mistake after copying the file around
    0o640,   # group-readable
    0o604,   # readable by others only
    0o660,   # group-writable too
])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = create_master_key_file(tmp_path / "master.key")
    path.chmod(mode)
    with pytest.raises(MasterKeyError) as raised:
        load_master_key(load_settings(env={}, home=tmp_path))
    message = str(raised.value)
    assert "\n" not in message
    assert f"chmod 600 {path}" in message and f"{mode:04o}" in message
    assert path.read_text().strip() not in message          # the key itself is never shown


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_key_file_is_accepted(tmp_path: Path, mode: int) -> None:
    path = create_master_key_file(tmp_path / "master.key")
    path.chmod(mode)
    assert len(load_master_key(load_settings(env={}, home=tmp_path))) == 32


def test_a_key_from_the_environment_ignores_a_loose_file(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    (tmp_path / "master.key").write_text("unused\n")
    (tmp_path / "master.key").chmod(0o644)
    env = {"ZDR_MASTER_KEY": base64.b64encode(key).decode()}
    assert load_master_key(load_settings(env=env, home=tmp_path)) == key
