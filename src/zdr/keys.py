"""API keys and admin tokens: random secrets shown once, stored only as a SHA-256 hash.

SHA-256 (not argon2) is right here: the secrets carry 256 bits of randomness, so they cannot be
guessed offline, and the gateway must look one up per request in microseconds.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "sk-zdr-"
TOKEN_PREFIX = "zdra-"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True, slots=True)
class NewSecret:
    secret: str     # shown once to its owner, never stored
    prefix: str     # stored and shown in listings
    digest: str     # stored; what lookups compare


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _new(kind_prefix: str) -> NewSecret:
    public = secrets.token_hex(4)
    secret = f"{kind_prefix}{public}-{secrets.token_urlsafe(32)}"
    return NewSecret(secret=secret, prefix=f"{kind_prefix}{public}", digest=hash_secret(secret))


def new_api_key() -> NewSecret:
    return _new(KEY_PREFIX)


def new_admin_token() -> NewSecret:
    return _new(TOKEN_PREFIX)
