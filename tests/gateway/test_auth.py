"""Key extraction and the principal cache: TTLs, negative caching, revocation within seconds."""

import pytest

from zdr.gateway.auth import PrincipalCache, presented_key
from zdr.inmemory import InMemoryDirectory


@pytest.mark.parametrize(("x_api_key", "authorization", "expected"), [
    ("sk-a", None, "sk-a"),                      # the SDK's header
    (None, "Bearer sk-b", "sk-b"),               # OAuth-style clients
    (None, "bearer sk-b", "sk-b"),               # scheme is case-insensitive
    ("sk-a", "Bearer sk-b", "sk-a"),             # x-api-key wins
    (None, "Basic abc", None),                   # other schemes are not keys
    ("  ", None, None),                          # blank
    (None, None, None),                          # nothing
    ("k" * 600, None, None),                     # absurdly long: refused before hashing
])
def test_presented_key(x_api_key, authorization, expected):
    assert presented_key(x_api_key, authorization) == expected


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_hits_are_cached_until_the_ttl():
    directory = InMemoryDirectory()
    secret, principal = directory.create_key("org")
    clock = FakeTime()
    cache = PrincipalCache(directory, ttl=2.0, monotonic=clock)
    assert await cache.principal(secret) == principal
    assert await cache.principal(secret) == principal
    assert directory.lookups == 1
    clock.now += 2.5
    assert await cache.principal(secret) == principal
    assert directory.lookups == 2


async def test_revocation_takes_effect_after_the_ttl():
    directory = InMemoryDirectory()
    secret, _ = directory.create_key("org")
    clock = FakeTime()
    cache = PrincipalCache(directory, ttl=2.0, monotonic=clock)
    assert await cache.principal(secret) is not None
    directory.revoke(secret)
    clock.now += 2.1
    assert await cache.principal(secret) is None


async def test_misses_are_cached_briefly():
    directory = InMemoryDirectory()
    clock = FakeTime()
    cache = PrincipalCache(directory, ttl=5.0, negative_ttl=0.5, monotonic=clock)
    assert await cache.principal("sk-unknown") is None
    assert await cache.principal("sk-unknown") is None
    assert directory.lookups == 1
    # A key created just now is usable within the negative TTL.
    clock.now += 0.6
    assert await cache.principal("sk-unknown") is None
    assert directory.lookups == 2


async def test_deleted_org_is_not_authenticated():
    directory = InMemoryDirectory()
    secret, principal = directory.create_key("gone")
    from dataclasses import replace

    directory.add(secret, replace(principal, org_deleted=True))
    assert await PrincipalCache(directory, ttl=1.0).principal(secret) is None


async def test_cache_stays_bounded():
    directory = InMemoryDirectory()
    cache = PrincipalCache(directory, ttl=60.0, max_entries=10, monotonic=FakeTime())
    for n in range(50):
        await cache.principal(f"sk-{n}")
    assert len(cache._entries) <= 10


async def test_forget_drops_one_org_and_every_miss():
    """A change notice for one org drops its keys and the cached misses, not other orgs' keys."""
    directory = InMemoryDirectory()
    changed, _ = directory.create_key("org-changed")
    other, _ = directory.create_key("org-other")
    cache = PrincipalCache(directory, ttl=60.0)
    for key in (changed, other, "sk-unknown"):
        await cache.principal(key)
    assert directory.lookups == 3
    cache.forget((await cache.principal(changed)).org_id)
    for key in (changed, other, "sk-unknown"):
        await cache.principal(key)
    assert directory.lookups == 5          # the changed org's key and the miss, looked up again
    cache.forget(None)
    await cache.principal(other)
    assert directory.lookups == 6
