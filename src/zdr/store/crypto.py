"""Content encryption at rest: a master key, per-organization data keys, crypto-shredding.

Envelope scheme (AES-256-GCM from `cryptography` throughout):

    master key (32 bytes; Settings.master_key as base64, or the key file; never in the database)
      ├─ HKDF-SHA256(info="zdr/audit-chain/v1") → HMAC key of the audit chain's links
      ├─ HKDF-SHA256(info="zdr/end-users/v1") → HMAC key of end users' ids (`metadata.user_id`)
      └─ HKDF-SHA256(info="zdr/key-wrapping/v1") → key-wrapping key
           ├─ wraps each org's *content* data key  (org_data_keys.wrapped_key)
           │    └─ HKDF-SHA256(info="zdr/client-identifiers/v2|<org id>") → that org's HMAC key
           │         of the pseudonyms that stand for client-chosen names in its metadata
           │         (`Keyring.identifier_key`): two orgs' pseudonyms of one name differ, and
           │         destroying the data key makes the org's pseudonyms unlinkable too
           └─ wraps each org's *safety* data key   (org_data_keys.wrapped_safety_key)
                (flagged content, the misuse exception: it may outlive the org's erasure
                while a hold stands, so it has its own key)

Every ciphertext is bound by its AAD to the org id, the purpose and the caller's AAD (the store
passes the exchange id and record class, see `record_aad`): a row copied to another org or another
exchange does not decrypt. `Keyring.destroy(org_id)` deletes the wrapped key (crypto-shredding):
the org's ciphertext left anywhere becomes unreadable once no copy of the wrapped key remains
(the database engine may keep the old row's bytes in the SQLite WAL or free pages, or in
PostgreSQL dead tuples, until they are overwritten, checkpointed or vacuumed). It does NOT
protect backups taken before the erasure: such a backup still holds the wrapped key, and with the
master key it decrypts the erased org's content. The defence is to keep key material out of
backups (the key file, or `ZDR_MASTER_KEY`, never in the same backup as the database), to expire
backups within the restore window, and to rotate the master key (re-wrap the live data keys under
a new one and destroy the old one) so that old backups become unreadable; this module has no
rotation command yet.

Public names: `create_master_key_file(path)` (called by `zdr init`), `load_master_key(settings)`,
`read_owner_only_key_file(path, name, error)`,
`org_identifier_key(secret, org_id)`,
`Keyring(engine, master_key)` with `encrypt` / `decrypt` / `identifier_key` / `destroy` /
`destroy_safety_key` /
`create_org_key(conn, org_id)` (in the control plane's transaction),
`Sealed`, `record_aad`, and the errors `MasterKeyError`, `KeyDestroyed`, `DecryptionFailed`.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Connection, Engine, select, update

from zdr.errors import Misconfigured
from zdr.settings import Settings
from zdr.store.tables import org_data_keys
from zdr.store.upsert import insert_ignoring_duplicates

KEY_BYTES = 32
NONCE_BYTES = 12
Purpose = Literal["content", "flagged"]
_COLUMNS: dict[Purpose, tuple[Column[Any], Column[Any]]] = {
    "content": (org_data_keys.c.wrapped_key, org_data_keys.c.destroyed_at),
    "flagged": (org_data_keys.c.wrapped_safety_key, org_data_keys.c.safety_destroyed_at),
}


class MasterKeyError(Misconfigured):
    """No usable master key: missing, unreadable or malformed (the message never shows the key)."""


class KeyDestroyed(RuntimeError):
    """The organization's data key was destroyed: its content can never be read again."""


class DecryptionFailed(RuntimeError):
    """The ciphertext does not belong to this org / exchange / key, or was altered."""


@dataclass(frozen=True, slots=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def record_aad(exchange_id: str, record_class: str) -> bytes:
    """The AAD the store uses: binds a ciphertext to its exchange and its record class."""
    return f"{record_class}|{exchange_id}".encode()


def create_master_key_file(path: Path) -> Path:
    """Write a new random master key (base64) to `path`, readable by its owner only (0600).

    Refuses to overwrite an existing file: losing a master key makes all content unreadable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii") + "\n")
    os.chmod(path, 0o600)
    return path


def parse_master_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise MasterKeyError("the master key is not valid base64") from error
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes (base64), not {len(key)}")
    return key


def load_master_key(settings: Settings) -> bytes:
    """The master key from `ZDR_MASTER_KEY` (base64) or else the key file.

    A key file that its group or other users can read is refused: whoever reads it can decrypt
    every org's content (and every backup's).
    """
    if settings.master_key:
        return parse_master_key(settings.master_key)
    path = settings.key_file
    return parse_master_key(read_owner_only_key_file(
        path, "master key", MasterKeyError,
        missing=f"no master key: set ZDR_MASTER_KEY or run `zdr init` ({path})"))


def read_owner_only_key_file(path: Path, name: str, error: type[Exception], *,
                             missing: str | None = None) -> str:
    """The text of a key file that only its owner may read (the master key, the signing key).

    Refused with `error` when its group or other users can read it (a one-line message that says
    how to fix it), or when it cannot be read; `missing`: the message when it does not exist."""
    try:
        with path.open("r", encoding="ascii") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if mode & 0o077:
                raise error(
                    f"the {name} file {path} is readable by other users (mode "
                    f"{mode:04o}); run `chmod 600 {path}` and start again")
            return handle.read()
    except FileNotFoundError as failure:
        if missing is None:
            raise error(f"cannot read the {name} file {path}: {failure.strerror}") from failure
        raise error(missing) from failure
    except (OSError, UnicodeDecodeError) as failure:
        reason = failure.strerror if isinstance(failure, OSError) else "not ASCII text"
        raise error(f"cannot read the {name} file {path}: {reason}") from failure


def derived_key(master_key: bytes, purpose: str) -> bytes:
    """A key of its own for one purpose, never stored: HKDF-SHA256 of the master key with
    info `zdr/<purpose>/v1` (the audit chain's links: "audit-chain"; end users' keyed hashes:
    "end-users"). Whoever has the
    master key can derive it again; nobody else can."""
    if len(master_key) != KEY_BYTES:
        raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=f"zdr/{purpose}/v1".encode()).derive(master_key)


def org_identifier_key(secret: bytes, org_id: str) -> bytes:
    """The key of the keyed hashes that stand for client-chosen identifiers in one org's
    metadata (`zdr.gateway.pseudonyms`): HKDF-SHA256 of `secret` (the org's content data key,
    `Keyring.identifier_key`), its own purpose, bound to the org."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"zdr/client-identifiers/v2|" + org_id.encode()).derive(secret)


def _wrapping_key(master_key: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"zdr/key-wrapping/v1")
    return AESGCM(hkdf.derive(master_key))


def _key_aad(org_id: str, purpose: Purpose) -> bytes:
    return f"zdr/data-key/v1|{purpose}|{org_id}".encode()


def _data_aad(org_id: str, purpose: Purpose, aad: bytes) -> bytes:
    return f"zdr/data/v1|{purpose}|{org_id}|".encode() + aad


class Keyring:
    """Per-org data keys, created on first use, unwrapped once and cached for `cache_seconds`.

    Thread-safe. Encryption may use a cached key; decryption always re-reads the wrapped key, so
    a key destroyed by another process stops reads at once (writes within `cache_seconds`).
    """

    def __init__(self, engine: Engine, master_key: bytes, cache_seconds: float = 30.0) -> None:
        if len(master_key) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes")
        self._engine = engine
        self._wrap = _wrapping_key(master_key)
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[str, Purpose], tuple[AESGCM, float]] = {}
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------
    def encrypt(
        self, org_id: str, plaintext: bytes, aad: bytes, purpose: Purpose = "content"
    ) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        key = self._key(org_id, purpose, create=True)
        return Sealed(nonce, key.encrypt(nonce, plaintext, _data_aad(org_id, purpose, aad)))

    def decrypt(
        self, org_id: str, sealed: Sealed, aad: bytes, purpose: Purpose = "content"
    ) -> bytes:
        key = self._key(org_id, purpose, create=False, fresh=True)
        try:
            return key.decrypt(sealed.nonce, sealed.ciphertext, _data_aad(org_id, purpose, aad))
        except InvalidTag as error:
            raise DecryptionFailed("ciphertext does not match this org, record or key") from error

    def identifier_key(self, org_id: str) -> bytes:
        """The org's pseudonym key, derived from its content data key (created if it has none
        yet). Raises `KeyDestroyed` once the org was crypto-shredded: its pseudonyms can no
        longer be recomputed, so names recorded under them can no longer be confirmed."""
        return org_identifier_key(self._load(org_id, "content", create=True), org_id)

    def destroy(self, org_id: str, now: datetime | None = None,
                conn: Connection | None = None) -> None:
        """Crypto-shred the org's content key (idempotent). The safety key is separate. With
        `conn`: in the caller's transaction (call `forget` once it commits)."""
        self._destroy(org_id, "content", now, conn)

    def destroy_safety_key(self, org_id: str, now: datetime | None = None,
                           conn: Connection | None = None) -> None:
        """Crypto-shred the org's flagged-content key (once no held flagged content remains)."""
        self._destroy(org_id, "flagged", now, conn)

    def create_org_key(self, conn: Connection, org_id: str) -> None:
        """Create the org's content and safety data keys in the caller's transaction."""
        values: dict[str, object] = {"org_id": org_id, "created_at": datetime.now(UTC)}
        for purpose, (wrapped_col, _destroyed) in _COLUMNS.items():
            values[wrapped_col.name] = self._new_wrapped(org_id, purpose)
        conn.execute(insert_ignoring_duplicates(conn, org_data_keys).values(**values))

    def has_key_cached(self, org_id: str, purpose: Purpose = "content") -> bool:
        """True when encrypting for this org needs no database read (the key is in memory)."""
        with self._lock:
            cached = self._cache.get((org_id, purpose))
        return cached is not None and cached[1] > time.monotonic()

    def forget(self, org_id: str) -> None:
        with self._lock:
            for purpose in ("content", "flagged"):
                self._cache.pop((org_id, purpose), None)

    # -- internals ----------------------------------------------------------------------------
    def _destroy(self, org_id: str, purpose: Purpose, now: datetime | None,
                 conn: Connection | None) -> None:
        if conn is None:
            with self._engine.begin() as own:
                self._destroy(org_id, purpose, now, own)
            self.forget(org_id)
            return
        wrapped, destroyed_at = _COLUMNS[purpose]
        when = (now or datetime.now(UTC)).astimezone(UTC)
        conn.execute(insert_ignoring_duplicates(conn, org_data_keys).values(
            org_id=org_id, created_at=when,
        ))
        conn.execute(
            update(org_data_keys).where(org_data_keys.c.org_id == org_id)
            .values({wrapped.name: None, destroyed_at.name: when})
        )
        self.forget(org_id)

    def _key(self, org_id: str, purpose: Purpose, create: bool, fresh: bool = False) -> AESGCM:
        now = time.monotonic()
        if not fresh:
            with self._lock:
                cached = self._cache.get((org_id, purpose))
            if cached is not None and cached[1] > now:
                return cached[0]
        raw = self._load(org_id, purpose, create)
        key = AESGCM(raw)
        with self._lock:
            self._cache[(org_id, purpose)] = (key, now + self._cache_seconds)
        return key

    def _load(self, org_id: str, purpose: Purpose, create: bool) -> bytes:
        wrapped_col, destroyed_col = _COLUMNS[purpose]
        query = select(wrapped_col, destroyed_col).where(org_data_keys.c.org_id == org_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is not None and row[1] is not None:
            raise KeyDestroyed(f"the {purpose} data key of organization {org_id} was destroyed")
        if row is not None and row[0] is not None:
            return self._unwrap(org_id, purpose, row[0])
        if not create:
            raise KeyDestroyed(f"organization {org_id} has no {purpose} data key")
        return self._create(org_id, purpose)

    def _create(self, org_id: str, purpose: Purpose) -> bytes:
        wrapped = self._new_wrapped(org_id, purpose)
        wrapped_col, destroyed_col = _COLUMNS[purpose]
        with self._engine.begin() as conn:
            conn.execute(insert_ignoring_duplicates(conn, org_data_keys).values(
                org_id=org_id, created_at=datetime.now(UTC), **{wrapped_col.name: None}
            ))
            conn.execute(
                update(org_data_keys)
                .where(org_data_keys.c.org_id == org_id, wrapped_col.is_(None),
                       destroyed_col.is_(None))
                .values({wrapped_col.name: wrapped})
            )
            row = conn.execute(
                select(wrapped_col, destroyed_col).where(org_data_keys.c.org_id == org_id)
            ).one()
        if row[1] is not None or row[0] is None:
            raise KeyDestroyed(f"the {purpose} data key of organization {org_id} was destroyed")
        # Another process may have created it first: use whatever is stored.
        return self._unwrap(org_id, purpose, row[0])

    def _new_wrapped(self, org_id: str, purpose: Purpose) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._wrap.encrypt(nonce, secrets.token_bytes(KEY_BYTES),
                                          _key_aad(org_id, purpose))

    def _unwrap(self, org_id: str, purpose: Purpose, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                      _key_aad(org_id, purpose))
        except InvalidTag as error:
            raise MasterKeyError("the master key does not match this database's data keys") \
                from error

