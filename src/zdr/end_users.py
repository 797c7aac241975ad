"""The end user a request names (`metadata.user_id`), kept only as a keyed hash.

Clients may send `metadata.user_id` to say which of their users a request serves; an end user's
erasure (`zdr erase --org ORG --end-user ID`) finds that user's exchanges by it. The identifier
is the client's free text, so it is never stored: the metadata record holds

    HMAC-SHA256(K, identity)  (hex),   K = HKDF(master key, "zdr/end-users/v1")

which cannot be read back, or even tested against a guess, without the master key.

Claude Code sends `user_id` as a JSON string (`{"device_id": …, "account_uuid": …,
"session_id": …}`) whose session part changes every session: the identity is then its account
(`account:<uuid>`), else its device (`device:<id>`), so one person's sessions are one end user.
Any other string is the identity as sent. `identity()` is applied the same way to the id given
to `zdr erase`, so the operator can pass either the whole string or the account/device id.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

MAX_ID_LENGTH = 512


def identity(user_id: str) -> str:
    """The end user a `metadata.user_id` stands for (see the module docstring)."""
    text = user_id.strip()
    if text.startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if isinstance(value, dict):
            for key, prefix in (("account_uuid", "account:"), ("device_id", "device:")):
                part = value.get(key)
                if isinstance(part, str) and part:
                    return prefix + part
    return text


class EndUsers:
    """Keyed hashes of end-user identities."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the end-user key must have at least 16 bytes")
        self._key = key

    def hash(self, user_id: str) -> str:
        digest = hmac.new(self._key, identity(user_id).encode("utf-8", "surrogatepass"),
                          hashlib.sha256)
        return digest.hexdigest()

    def candidates(self, given: str) -> list[str]:
        """The keyed hashes an id given to `zdr erase` may stand for: the id as a client sends
        it, and — a bare account or device id out of Claude Code's JSON — that account's or
        device's."""
        hashes = [self.hash(given)]
        bare = given.strip()
        if not bare.startswith("{") and not bare.startswith(("account:", "device:")):
            hashes += [self.hash(f"account:{bare}"), self.hash(f"device:{bare}")]
        return hashes

    def of(self, body: dict[str, Any] | None) -> str | None:
        """The keyed hash of the request's `metadata.user_id`, or None when it names none."""
        if not body:
            return None
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            return None
        user_id = metadata.get("user_id")
        if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_ID_LENGTH:
            return None
        return self.hash(user_id)
