"""Authentication: the client's key → its hash → a `Principal`, through a short-lived cache.

Keys arrive as `x-api-key` or `Authorization: Bearer`. Only the SHA-256 hash is looked up or kept;
the cache holds answers for `ttl` seconds (misses for less), so a revoked key or a changed
arrangement takes effect within seconds on every worker. On PostgreSQL a change notice
(`zdr.store.changes`) makes it `forget` an organization's answers at once; the TTL is the fallback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from zdr.keys import hash_secret
from zdr.ports import Directory, Principal

MAX_KEY_LENGTH = 512


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The secret the client presented, or None. `x-api-key` wins over `Authorization`."""
    if x_api_key:
        key = x_api_key.strip()
    elif authorization and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    else:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    return key


class PrincipalCache:
    """Caches `Directory.principal_for` by key hash. Lookups of one hash are not coalesced: the
    directory is fast and a burst of misses for one key costs a few queries, not correctness."""

    def __init__(
        self,
        directory: Directory,
        ttl: float,
        *,
        negative_ttl: float | None = None,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._ttl = ttl
        self._negative_ttl = min(ttl, 1.0) if negative_ttl is None else negative_ttl
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, key: str) -> Principal | None:
        digest = hash_secret(key)
        now = self._monotonic()
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > now:
            return entry[1]
        principal = await self.directory.principal_for(digest)
        if principal is not None and principal.org_deleted:
            principal = None
        if len(self._entries) >= self._max:
            self._evict(now)
        ttl = self._ttl if principal is not None else self._negative_ttl
        self._entries[digest] = (now + ttl, principal)
        return principal

    def invalidate(self) -> None:
        self._entries.clear()

    def forget(self, org_id: str | None) -> None:
        """Drop what is cached for `org_id` (None: everything), and every miss: a key that was
        unknown may have just been made."""
        if org_id is None:
            self._entries.clear()
            return
        stale = [digest for digest, (_, principal) in self._entries.items()
                 if principal is None or principal.org_id == org_id]
        for digest in stale:
            del self._entries[digest]

    def _evict(self, now: float) -> None:
        expired = [digest for digest, (until, _) in self._entries.items() if until <= now]
        for digest in expired:
            del self._entries[digest]
        if len(self._entries) >= self._max:
            self._entries.clear()
