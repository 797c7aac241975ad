"""Signed-in console sessions, kept in the database so every worker and every restart agrees.

The browser holds a random 256-bit token; the table holds its SHA-256 only (as for API keys and
admin tokens, `zdr.keys`), the user and the expiry. A session is valid while its row exists, has
not expired and its user is not disabled. Ending a session deletes its row: signing out, changing
the password and disabling the user (`zdr.control.accounts`) end sessions for every worker at once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from zdr.control.accounts import actor_for_user
from zdr.control.context import ControlContext
from zdr.control.roles import Actor
from zdr.errors import AuthenticationFailed
from zdr.keys import hash_secret
from zdr.store.db import utc
from zdr.store.tables import console_sessions, users

SESSION_LIFETIME = timedelta(hours=8)     # absolute: a session never outlives this
MAX_TOKEN = 200                           # longer presented tokens are not looked up


class ConsoleSessions:
    def __init__(self, ctx: ControlContext, lifetime: timedelta = SESSION_LIFETIME) -> None:
        self.ctx = ctx
        self.lifetime = lifetime

    def start(self, user_id: str) -> str:
        """A new session for `user_id`: the token for the browser (shown nowhere else)."""
        token = secrets.token_urlsafe(32)
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
            conn.execute(console_sessions.insert().values(
                token_hash=hash_secret(token), user_id=user_id, created_at=now,
                expires_at=now + self.lifetime))
        return token

    def actor_for(self, token: str) -> Actor:
        """The signed-in person of a live session, with their roles as they are now."""
        failure = AuthenticationFailed("the console session has ended")
        if not token or len(token) > MAX_TOKEN:
            raise failure
        with self.ctx.read() as conn:
            row = conn.execute(
                select(console_sessions.c.expires_at, users.c.id, users.c.email,
                       users.c.disabled_at)
                .join(users, users.c.id == console_sessions.c.user_id)
                .where(console_sessions.c.token_hash == hash_secret(token))
            ).first()
            if row is None or row.disabled_at is not None or self._expired(row.expires_at):
                raise failure
            return actor_for_user(conn, row.id, row.email)

    def end(self, token: str) -> None:
        """Sign out: the token is refused from now on, by every worker."""
        if not token or len(token) > MAX_TOKEN:
            return
        with self.ctx.engine.begin() as conn:
            conn.execute(delete(console_sessions)
                         .where(console_sessions.c.token_hash == hash_secret(token)))

    def _expired(self, expires_at: datetime) -> bool:
        return utc(expires_at) <= self.ctx.now()
