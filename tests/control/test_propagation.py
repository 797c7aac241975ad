"""How fast a control-plane change reaches the gateway's key cache (measured, not assumed).

The gateway resolves keys through `PrincipalCache(SqlDirectory)` with a TTL
(`Settings.key_cache_ttl_seconds`, 2 s by default); in the same process the control plane's
`on_change` hook can invalidate it at once.
"""

from __future__ import annotations

import asyncio
import time

from control_world import World

from zdr.gateway.auth import PrincipalCache
from zdr.settings import Settings
from zdr.store.directory import SqlDirectory

TTL = Settings().key_cache_ttl_seconds


async def seconds_until(cache: PrincipalCache, key: str, condition: object, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        principal = await cache.principal(key)
        if condition(principal):  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"the change did not reach the gateway within {limit} s")


async def test_zdr_approval_reaches_the_gateway_within_the_ttl(world: World) -> None:
    key = world.plane.keys.create(world.operator, "acme").secret
    cache = PrincipalCache(SqlDirectory(world.engine), ttl=TTL)
    assert (await cache.principal(key)).arrangements.org.zdr_status == "none"
    world.plane.arrangements.request_zdr(world.people["org_owner"], "acme")
    world.plane.arrangements.approve_zdr(world.people["reviewer"], "acme")
    took = await seconds_until(cache, key,
                               lambda p: p.arrangements.org.zdr_status == "approved", TTL + 1.0)
    assert took <= TTL + 0.2
    print(f"ZDR approval visible to a TTL cache after {took:.2f} s (ttl {TTL} s)")


async def test_on_change_invalidation_applies_at_once(world: World) -> None:
    key = world.plane.keys.create(world.operator, "acme").secret
    cache = PrincipalCache(SqlDirectory(world.engine), ttl=60.0)
    world.plane.ctx.on_change = lambda org_id: cache.invalidate()
    assert not (await cache.principal(key)).arrangements.org.hipaa
    world.plane.arrangements.accept_baa(world.people["org_admin"], "acme", "2026-01")
    took = await seconds_until(cache, key, lambda p: p.arrangements.org.hipaa, 1.0)
    assert took < 0.1
    world.plane.keys.revoke(world.operator, key[:15])
    assert await cache.principal(key) is None
