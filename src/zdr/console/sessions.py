"""Console sessions: a signed, expiring cookie that names the user and carries the CSRF token.

The cookie holds no secret of the user and no role: the user's roles are read through the control
plane on every request, so a role change or a disabled account takes effect at once.

    value = base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

COOKIE_NAME = "zdr_console"
SESSION_SECONDS = 8 * 3600          # absolute lifetime of a signed-in session
ANONYMOUS_SECONDS = 2 * 3600        # lifetime of the pre-login session that carries the CSRF token


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    csrf_token: str
    issued_at: int
    user_id: str | None = None
    email: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def lifetime(self) -> int:
        return SESSION_SECONDS if self.signed_in else ANONYMOUS_SECONDS


def new_session(now: float, user_id: str | None = None, email: str | None = None) -> Session:
    """A fresh session: new id and new CSRF token (rotated at sign-in and sign-out)."""
    return Session(
        session_id=secrets.token_urlsafe(18),
        csrf_token=secrets.token_urlsafe(32),
        issued_at=int(now),
        user_id=user_id,
        email=email,
    )


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
            "u": session.user_id, "e": session.email,
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
                email=None if data["e"] is None else str(data["e"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if not session.issued_at <= now + 60 or now - session.issued_at > session.lifetime:
            return None
        return session



class SignedOut:
    """Session ids signed out in this process, remembered until they would have expired anyway.

    The cookie is also cleared in the browser; this makes a copied cookie useless after sign-out
    on the worker that served the sign-out. Bounded: the oldest entries go first.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._until: dict[str, float] = {}

    def add(self, session: Session) -> None:
        self._until[session.session_id] = session.issued_at + session.lifetime
        while len(self._until) > self.max_entries:
            del self._until[next(iter(self._until))]

    def __contains__(self, session_id: object) -> bool:
        return isinstance(session_id, str) and session_id in self._until

    def forget_expired(self, now: float) -> None:
        for session_id in [s for s, until in self._until.items() if until < now]:
            del self._until[session_id]

    def __len__(self) -> int:
        return len(self._until)
