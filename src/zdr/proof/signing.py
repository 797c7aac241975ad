"""The deployment's Ed25519 signing key: created by `zdr init`, kept in a 0600 file or in
`ZDR_SIGNING_KEY`, never in the database.

    signer = load_signer(settings)            # creates the key file on first use
    signer.key_id                             # first 16 hex digits of sha256(raw public key)
    signer.sign(message) -> bytes             # 64-byte Ed25519 signature
    public_key_pem(signer.public_key)

Only the public half leaves the home: the database lists every public key the deployment has
used (`zdr.proof.registry`), so statements signed before a rotation still verify. Verifying needs
nothing of this module but `PublicKey` (`load_public_key(pem)`, `verify(...)`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from zdr.errors import Misconfigured
from zdr.settings import Settings

ALGORITHM = "Ed25519"


class SigningKeyError(Misconfigured):
    """No usable signing key: unreadable, malformed, or readable by other users."""


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo); ValueError otherwise."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise ValueError("not a PEM public key") from error
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey = field(repr=False)
    source: str                         # "file <path>" or "ZDR_SIGNING_KEY"

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    @property
    def public_pem(self) -> str:
        return public_key_pem(self.public_key)

    @property
    def from_environment(self) -> bool:
        return self.source == "ZDR_SIGNING_KEY"

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """PEM (PKCS#8) or the base64 of the raw 32-byte seed."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as error:
            raise SigningKeyError("the signing key is not a readable PEM private key") \
                from error
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the signing key is not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SigningKeyError("the signing key is neither PEM nor base64") from error
    if len(seed) != 32:
        raise SigningKeyError(f"a raw signing key has 32 bytes (base64), not {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def write_key_file(path: Path, key: Ed25519PrivateKey, *, replace: bool = False) -> None:
    """Write `key` (PEM) readable by its owner only. Never leaves a half-written file: the
    key goes to a temporary file first, then is linked (new) or renamed (replace) into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".signing-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_pem(key))
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)       # FileExistsError if another process made one first
    finally:
        if Path(temp).exists():
            os.unlink(temp)


def load_signer(settings: Settings, *, create: bool = True) -> Signer:
    """The signing key from `ZDR_SIGNING_KEY`, else the key file (made on first use when
    `create`; a home made before signing existed gets its key this way)."""
    if settings.signing_key:
        return Signer(parse_private_key(settings.signing_key), "ZDR_SIGNING_KEY")
    path = settings.signing_key_path
    if not path.exists():
        if not create:
            raise SigningKeyError(f"no signing key: set ZDR_SIGNING_KEY or run `zdr init` "
                                  f"({path})")
        # FileExistsError: another process created it a moment ago; use theirs
        with contextlib.suppress(FileExistsError):
            write_key_file(path, Ed25519PrivateKey.generate())
    from zdr.store.crypto import read_owner_only_key_file  # issuing only: verifying needs no store

    text = read_owner_only_key_file(path, "signing key", SigningKeyError)
    return Signer(parse_private_key(text), f"file {path}")


def rotate_key_file(settings: Settings) -> tuple[Signer, Signer]:
    """Replace the key file with a new key; (old, new). The old private key is gone after this
    (statements it signed still verify with its public key, which stays listed)."""
    if settings.signing_key:
        raise SigningKeyError(
            "the signing key comes from ZDR_SIGNING_KEY: put a new key there (`zdr attest "
            "new-key` prints one) and restart; the old public key stays listed")
    old = load_signer(settings)
    new_key = Ed25519PrivateKey.generate()
    write_key_file(settings.signing_key_path, new_key, replace=True)
    return old, Signer(new_key, f"file {settings.signing_key_path}")


def new_key_text() -> str:
    """A new signing key as base64 of its 32-byte seed (for `ZDR_SIGNING_KEY`)."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    return base64.b64encode(seed).decode()
