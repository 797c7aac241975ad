"""Console sign-in rate limit, kept in the database: every worker and every restart counts the same.

Each sign-in attempt is written down (`login_attempts`: hashes of the account's email and of the
client's address, and the time) *before* the password is checked, in one transaction that first
counts the attempts within each window. A success deletes its own row, and the failures of that
email from that address; a failure leaves its row. Counting and writing under one lock (SQLite's
write lock; an advisory lock on PostgreSQL) means a burst of parallel guesses on several workers
still gets exactly the allowed number through, not one per worker or per connection.

Three windows, each sliding (defaults per 15 minutes):

- 5 attempts for one email from one address;
- 20 for one email from anywhere (slows guessing spread over many addresses — at the price that
  someone who knows an email can hold its owner off for as long as they keep guessing);
- 50 from one address across all emails (slows password spraying). An IPv6 client counts by
  its /64 network (`client_address.rate_limit_key`).

Rows older than the longest window are deleted as new attempts arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, select, text

from zdr.console.client_address import rate_limit_key
from zdr.errors import RateLimited
from zdr.keys import hash_secret
from zdr.store.db import utc
from zdr.store.tables import login_attempts

LOCK_KEY = 0x7A6472_6C6F67  # "zdr" "log": serializes counting and recording attempts on PostgreSQL


@dataclass(frozen=True, slots=True)
class Limit:
    attempts: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """An attempt written down by `LoginRateLimiter.begin`, to report its success."""

    row_id: int
    account: str
    address: str


class TooManyAttempts(RateLimited):
    """429: the sign-in page says how long to wait (`retry_after`, seconds)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many sign-in attempts")
        self.retry_after = retry_after


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LoginRateLimiter:
    def __init__(
        self,
        engine: Engine,
        per_account_address: Limit = Limit(5, 900.0),
        per_account: Limit = Limit(20, 900.0),
        per_address: Limit = Limit(50, 900.0),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.engine = engine
        self.per_account_address = per_account_address
        self.per_account = per_account
        self.per_address = per_address
        self.clock = clock
        self.horizon = timedelta(seconds=max(
            per_account_address.window_seconds, per_account.window_seconds,
            per_address.window_seconds))

    @staticmethod
    def keys(email: str, address: str) -> tuple[str, str]:
        """What is stored: hashes of the normalised email and of the address's limit key."""
        return (hash_secret("account\x00" + email.strip().lower()),
                hash_secret("address\x00" + rate_limit_key(address)))

    def begin(self, email: str, address: str) -> Attempt:
        """Write the attempt down, or raise `TooManyAttempts` (nothing written) if any window
        is full. Call `succeeded` if the password is right."""
        account, where = self.keys(email, address)
        now = self.clock()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            conn.execute(delete(login_attempts).where(login_attempts.c.at < now - self.horizon))
            wait = self._wait(conn, account, where, now)
            if wait > 0:
                raise TooManyAttempts(wait)
            inserted = conn.execute(login_attempts.insert().values(
                account_hash=account, address_hash=where, at=now)).inserted_primary_key
        assert inserted is not None
        return Attempt(int(inserted[0]), account, where)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget this attempt and this email's failures from here."""
        with self.engine.begin() as conn:
            conn.execute(delete(login_attempts).where(
                (login_attempts.c.id == attempt.row_id)
                | and_(login_attempts.c.account_hash == attempt.account,
                       login_attempts.c.address_hash == attempt.address)))

    def retry_after(self, email: str, address: str) -> float:
        """Seconds until this email may be tried from this address again; 0 when it may now."""
        account, where = self.keys(email, address)
        with self.engine.connect() as conn:
            return self._wait(conn, account, where, self.clock())

    def _wait(self, conn: Connection, account: str, address: str, now: datetime) -> float:
        c = login_attempts.c
        return max(
            self._window_wait(conn, and_(c.account_hash == account, c.address_hash == address),
                              self.per_account_address, now),
            self._window_wait(conn, c.account_hash == account, self.per_account, now),
            self._window_wait(conn, c.address_hash == address, self.per_address, now),
        )

    @staticmethod
    def _window_wait(
        conn: Connection, key: ColumnElement[bool], limit: Limit, now: datetime
    ) -> float:
        """0 when fewer than `limit.attempts` fall in the window; else until the oldest of the
        newest `attempts` leaves it."""
        window = timedelta(seconds=limit.window_seconds)
        recent = conn.execute(
            select(login_attempts.c.at).where(key, login_attempts.c.at > now - window)
            .order_by(login_attempts.c.at.desc()).limit(limit.attempts)
        ).scalars().all()
        if len(recent) < limit.attempts:
            return 0.0
        return max(0.0, (utc(recent[-1]) + window - now).total_seconds())
