"""The sign-in rate limit in the database: its three windows, parallel guesses from several
workers, and its bounded table. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from backend_engines import second_engine
from zdr.console.ratelimit import Limit, LoginRateLimiter, TooManyAttempts
from zdr.store.tables import login_attempts


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def limiter(engine: Engine, clock: Clock, pair: int = 3, account: int = 100,
            address: int = 100) -> LoginRateLimiter:
    return LoginRateLimiter(engine, Limit(pair, 60.0), Limit(account, 60.0),
                            Limit(address, 60.0), clock=clock)


def fail(limits: LoginRateLimiter, email: str, address: str, times: int = 1) -> None:
    for _ in range(times):
        limits.begin(email, address)          # never reported as a success: a failure


def test_a_window_fills_then_reopens_as_it_slides(backend_engine: Engine) -> None:
    clock = Clock()
    limits = limiter(backend_engine, clock)
    fail(limits, "a@x.test", "192.0.2.1")
    clock.now += timedelta(seconds=20)
    fail(limits, "a@x.test", "192.0.2.1", 2)
    with pytest.raises(TooManyAttempts) as refused:
        limits.begin("A@X.test ", "192.0.2.1")     # the same account, however written
    assert refused.value.retry_after == pytest.approx(40.0)
    clock.now += timedelta(seconds=40)              # the first attempt leaves the window
    limits.begin("a@x.test", "192.0.2.1")


def test_the_account_window_spans_addresses_and_the_address_window_spans_accounts(
    backend_engine: Engine,
) -> None:
    clock = Clock()
    per_account = limiter(backend_engine, clock, pair=100, account=4)
    for i in range(4):
        fail(per_account, "a@x.test", f"192.0.2.{i}")
    with pytest.raises(TooManyAttempts):
        per_account.begin("a@x.test", "198.51.100.1")          # a fresh address
    per_account.begin("b@x.test", "198.51.100.1")

    per_address = limiter(backend_engine, clock, pair=100, address=6)
    for i in range(6):
        per_address.begin(f"user{i}@x.test", "203.0.113.1")
    with pytest.raises(TooManyAttempts):
        per_address.begin("user7@x.test", "203.0.113.1")        # a fresh account
    per_address.begin("user7@x.test", "203.0.113.2")


def test_an_ipv6_client_counts_by_its_slash_64(backend_engine: Engine) -> None:
    limits = limiter(backend_engine, Clock(), pair=2)
    fail(limits, "a@x.test", "2001:db8:1:2::1")
    fail(limits, "a@x.test", "2001:db8:1:2:ffff::7")
    with pytest.raises(TooManyAttempts):
        limits.begin("a@x.test", "2001:db8:1:2:dead:beef:0:1")
    limits.begin("a@x.test", "2001:db8:1:3::1")                 # another network


def test_a_success_clears_its_pairs_failures_but_not_the_accounts_or_addresses(
    backend_engine: Engine,
) -> None:
    clock = Clock()
    limits = limiter(backend_engine, clock, pair=3, account=5, address=5)
    fail(limits, "a@x.test", "192.0.2.1", 2)
    fail(limits, "a@x.test", "192.0.2.2", 2)
    limits.succeeded(limits.begin("a@x.test", "192.0.2.1"))
    with backend_engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(login_attempts)).scalar_one()
    assert left == 2                                   # the other address's failures stay
    assert limits.retry_after("a@x.test", "192.0.2.1") == 0


def test_parallel_guesses_on_two_workers_get_exactly_the_limit(backend_engine: Engine) -> None:
    """All attempts start before any is decided: the count includes attempts in flight."""
    other = second_engine(backend_engine)
    try:
        workers = [limiter(backend_engine, Clock(), pair=5), limiter(other, Clock(), pair=5)]
        allowed, start = [], threading.Barrier(16)

        def guess(n: int) -> None:
            start.wait()
            try:
                workers[n % 2].begin("a@x.test", "192.0.2.1")
            except TooManyAttempts:
                return
            allowed.append(n)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        other.dispose()
    assert len(allowed) == 5


def test_old_attempts_are_deleted_as_new_ones_arrive(backend_engine: Engine) -> None:
    clock = Clock()
    limits = limiter(backend_engine, clock, pair=1000, account=1000, address=1000)
    for i in range(50):
        fail(limits, f"user{i}@x.test", f"192.0.2.{i}")
    clock.now += timedelta(seconds=61)
    fail(limits, "late@x.test", "192.0.2.200")
    with backend_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(login_attempts)).scalar_one() == 1


def test_only_hashes_are_stored(backend_engine: Engine) -> None:
    limits = limiter(backend_engine, Clock())
    fail(limits, "someone@example.test", "192.0.2.44")
    with backend_engine.connect() as conn:
        row = conn.execute(select(login_attempts)).one()
    assert "someone" not in repr(row) and "192.0.2" not in repr(row)
    assert len(row.account_hash) == len(row.address_hash) == 64
