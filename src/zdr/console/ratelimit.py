"""Login rate limiting: failed sign-ins counted per (email, client address), in bounded memory.

A sliding window per key; the table holds at most `max_keys` keys and forgets the least recently
used one first, so a flood of made-up emails cannot grow memory without bound. A second, looser
limit per client address slows password spraying across many emails.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic


@dataclass(frozen=True, slots=True)
class Limit:
    attempts: int
    window_seconds: float


class SlidingWindow:
    """Failures per key within a window; bounded to `max_keys` keys (LRU)."""

    def __init__(self, limit: Limit, max_keys: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and now - hits[0] >= self.limit.window_seconds:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        now = self.clock()
        hits = self._recent(key, now)
        if hits is None or len(hits) < self.limit.attempts:
            return 0.0
        return max(0.0, self.limit.window_seconds - (now - hits[0]))

    def record(self, key: str) -> None:
        now = self.clock()
        hits = self._recent(key, now)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self.limit.attempts)
        self._hits.move_to_end(key)
        hits.append(now)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)


class LoginRateLimiter:
    """5 failures per email and address in 15 minutes; 50 per address across all emails."""

    def __init__(
        self,
        per_account: Limit = Limit(5, 900.0),
        per_address: Limit = Limit(50, 900.0),
        max_keys: int = 10_000,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.per_account = SlidingWindow(per_account, max_keys, clock)
        self.per_address = SlidingWindow(per_address, max_keys, clock)

    @staticmethod
    def _account_key(email: str, address: str) -> str:
        return f"{email.strip().lower()}\x00{address}"

    def retry_after(self, email: str, address: str) -> float:
        return max(self.per_account.retry_after(self._account_key(email, address)),
                   self.per_address.retry_after(address))

    def failed(self, email: str, address: str) -> None:
        self.per_account.record(self._account_key(email, address))
        self.per_address.record(address)

    def succeeded(self, email: str, address: str) -> None:
        self.per_account.clear(self._account_key(email, address))
