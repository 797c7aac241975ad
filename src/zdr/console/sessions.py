"""The console's cookie: a signed, expiring value that carries the CSRF token and, once signed
in, the session token.

Before sign-in the cookie is the whole session (it only carries the CSRF token of the sign-in
form). A signed-in session is also a row of `console_sessions` (`zdr.control.sessions`), found by
the hash of the token in the cookie: every request checks it, so signing out, a password change
or a disabled account ends the session on every worker and across restarts. The cookie holds no
role: roles are read through the control plane on every request.

    value = base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

from zdr.control.sessions import SESSION_LIFETIME

COOKIE_NAME = "zdr_console"
SESSION_SECONDS = int(SESSION_LIFETIME.total_seconds())   # absolute lifetime once signed in
ANONYMOUS_SECONDS = 2 * 3600        # lifetime of the pre-login session that carries the CSRF token


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str           # signed in: the token whose hash is the `console_sessions` row
    csrf_token: str
    issued_at: int
    user_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def lifetime(self) -> int:
        return SESSION_SECONDS if self.signed_in else ANONYMOUS_SECONDS


def new_session(now: float) -> Session:
    """A fresh signed-out session: new id and new CSRF token."""
    return Session(session_id=secrets.token_urlsafe(18), csrf_token=secrets.token_urlsafe(32),
                   issued_at=int(now))


def signed_in_session(now: float, token: str, user_id: str) -> Session:
    """The cookie's side of a session started by `ConsoleSessions.start`: a new CSRF token too."""
    return Session(session_id=token, csrf_token=secrets.token_urlsafe(32), issued_at=int(now),
                   user_id=user_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs and verifies session cookies with one secret key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the console session secret must be at least 32 bytes")
        self._key = hashlib.sha256(b"zdr-console-session\x00" + secret).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def encode(self, session: Session) -> str:
        payload = orjson.dumps({
            "s": session.session_id, "c": session.csrf_token, "t": session.issued_at,
            "u": session.user_id,
        })
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, value: str | None, now: float) -> Session | None:
        """The session in `value`, or None when it is missing, forged, malformed or expired."""
        if not value or len(value) > 1024 or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._mac(payload)):
            return None
        try:
            data = orjson.loads(payload)
            session = Session(
                session_id=str(data["s"]), csrf_token=str(data["c"]), issued_at=int(data["t"]),
                user_id=None if data["u"] is None else str(data["u"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if not session.issued_at <= now + 60 or now - session.issued_at > session.lifetime:
            return None
        return session

