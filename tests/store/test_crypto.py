"""Content encryption: AES-256-GCM per org, bound to org + exchange, shredded by key destruction."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from store_data import make_org

from zdr.settings import load_settings
from zdr.store.crypto import (
    DecryptionFailed,
    KeyDestroyed,
    Keyring,
    MasterKeyError,
    Sealed,
    create_master_key_file,
    load_master_key,
    record_aad,
)
from zdr.store.tables import org_data_keys

SECRET = b"canary-7f3a the patient's diagnosis"


def test_round_trip(engine: Engine, keyring: Keyring) -> None:
    """What is encrypted for an org and exchange decrypts back to the same bytes."""
    org = make_org(engine)
    sealed = keyring.encrypt(org, SECRET, record_aad("ex1", "content"))
    assert SECRET not in sealed.ciphertext
    assert keyring.decrypt(org, sealed, record_aad("ex1", "content")) == SECRET


@pytest.mark.parametrize(
    ("org_index", "aad", "purpose"),
    [
        (1, record_aad("ex1", "content"), "content"),           # another org's key
        (0, record_aad("ex2", "content"), "content"),           # another exchange
        (0, record_aad("ex1", "flagged_content"), "content"),   # another record class
        (0, record_aad("ex1", "content"), "flagged"),           # the safety key
    ],
)
def test_ciphertext_does_not_decrypt_out_of_place(
    engine: Engine, keyring: Keyring, org_index: int, aad: bytes, purpose: str
) -> None:
    """A row moved to another org, exchange, record class or key fails authentication."""
    orgs = [make_org(engine), make_org(engine)]
    keyring.encrypt(orgs[1], b"x", b"x")                 # org 1 has a key too
    keyring.encrypt(orgs[0], b"x", b"x", "flagged")
    sealed = keyring.encrypt(orgs[0], SECRET, record_aad("ex1", "content"))
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(orgs[org_index], sealed, aad, purpose)  # type: ignore[arg-type]


def test_tampered_ciphertext_fails(engine: Engine, keyring: Keyring) -> None:
    org = make_org(engine)
    sealed = keyring.encrypt(org, SECRET, b"a")
    bad = Sealed(sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(org, bad, b"a")


def test_destroyed_key_makes_content_unreadable(engine: Engine, keyring: Keyring) -> None:
    """Crypto-shredding: after destroy, neither this keyring nor a fresh one can decrypt."""
    org = make_org(engine)
    sealed = keyring.encrypt(org, SECRET, b"a")
    keyring.destroy(org)
    for ring in (keyring, Keyring(engine, bytes(range(32)))):
        with pytest.raises(KeyDestroyed):
            ring.decrypt(org, sealed, b"a")
        with pytest.raises(KeyDestroyed):
            ring.encrypt(org, b"new", b"a")
    with engine.connect() as conn:
        row = conn.execute(select(org_data_keys).where(org_data_keys.c.org_id == org)).one()
    assert row.wrapped_key is None and row.destroyed_at is not None


def test_safety_key_survives_content_key_destruction(engine: Engine, keyring: Keyring) -> None:
    """Flagged content under hold stays readable after the content key is shredded."""
    org = make_org(engine)
    flagged = keyring.encrypt(org, SECRET, b"f", "flagged")
    keyring.destroy(org)
    assert keyring.decrypt(org, flagged, b"f", "flagged") == SECRET
    keyring.destroy_safety_key(org)
    with pytest.raises(KeyDestroyed):
        keyring.decrypt(org, flagged, b"f", "flagged")


def test_wrong_master_key_is_reported(engine: Engine, keyring: Keyring) -> None:
    org = make_org(engine)
    sealed = keyring.encrypt(org, SECRET, b"a")
    with pytest.raises(MasterKeyError):
        Keyring(engine, bytes(32)).decrypt(org, sealed, b"a")


def test_wrapped_keys_in_database_are_not_the_data_key(engine: Engine, keyring: Keyring) -> None:
    """The database holds wrapped keys only; the master key is nowhere in it."""
    org = make_org(engine)
    keyring.encrypt(org, SECRET, b"a")
    with engine.connect() as conn:
        wrapped = conn.execute(select(org_data_keys.c.wrapped_key)).scalar_one()
    assert len(wrapped) == 12 + 32 + 16
    assert bytes(range(32)) not in wrapped


def test_control_plane_creates_keys_in_its_transaction(engine: Engine, keyring: Keyring) -> None:
    """create_org_key writes both keys in the caller's transaction, once."""
    org = make_org(engine)
    with engine.begin() as conn:
        keyring.create_org_key(conn, org)
        keyring.create_org_key(conn, org)
    with engine.connect() as conn:
        row = conn.execute(select(org_data_keys)).one()
    assert row.wrapped_key is not None and row.wrapped_safety_key is not None
    assert keyring.decrypt(org, keyring.encrypt(org, SECRET, b"a"), b"a") == SECRET


def test_master_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = create_master_key_file(tmp_path / "home" / "master.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    with pytest.raises(FileExistsError):
        create_master_key_file(path)


def test_master_key_from_environment_or_file(tmp_path: Path) -> None:
    """ZDR_MASTER_KEY wins; else the key file; else a one-line reason."""
    key = bytes(range(1, 33))
    env = {"ZDR_MASTER_KEY": base64.b64encode(key).decode()}
    assert load_master_key(load_settings(env=env, home=tmp_path)) == key
    with pytest.raises(MasterKeyError, match="zdr init"):
        load_master_key(load_settings(env={}, home=tmp_path))
    create_master_key_file(tmp_path / "master.key")
    assert len(load_master_key(load_settings(env={}, home=tmp_path))) == 32
    with pytest.raises(MasterKeyError, match="32 bytes"):
        load_master_key(load_settings(env={"ZDR_MASTER_KEY": "c2hvcnQ="}, home=tmp_path))
    with pytest.raises(MasterKeyError, match="base64"):
        load_master_key(load_settings(env={"ZDR_MASTER_KEY": "not base64!"}, home=tmp_path))


def test_pseudonym_keys_are_per_org_and_shredded_with_the_data_key(
        engine: Engine, keyring: Keyring) -> None:
    """Each org's pseudonym key comes from its own data key: two orgs' keys differ, a fresh
    keyring derives the same one, and after crypto-shredding it can no longer be derived."""
    org, other = make_org(engine), make_org(engine)
    first, second = keyring.identifier_key(org), keyring.identifier_key(other)
    assert first != second and len(first) == 32
    keyring.forget(org)
    assert keyring.identifier_key(org) == first         # stable: read back from the store
    keyring.destroy(org)
    with pytest.raises(KeyDestroyed):
        keyring.identifier_key(org)
    assert keyring.identifier_key(other) == second
