"""The local cluster (`zdr cluster up`): nginx spreads requests over every instance, a killed
instance's share fails over to the others, and an instance started late joins without touching
the schema the first ones migrated."""

from __future__ import annotations

import time
from typing import Any

from cluster_world import ClusterWorld, ask
from sqlalchemy import create_engine, text


def upstreams_in_access_log(world: ClusterWorld, since: int) -> list[str]:
    """The instance (host:port) nginx sent each request to, from the access log's lines."""
    assert world.cluster.nginx is not None
    time.sleep(0.3)     # nginx writes its access log line after the response
    lines = world.cluster.nginx.access_log.read_text(encoding="utf-8").splitlines()[since:]
    return [line.split()[8] for line in lines if " messages " in line]


def log_length(world: ClusterWorld) -> int:
    assert world.cluster.nginx is not None
    return len(world.cluster.nginx.access_log.read_text(encoding="utf-8").splitlines())


def schema_objects(url: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            objects = conn.execute(text(
                "SELECT count(*), max(xmin::text::bigint) FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace")).one()
        return version, tuple(objects)
    finally:
        engine.dispose()


def test_requests_are_spread_over_every_instance(cluster_world: ClusterWorld) -> None:
    cluster, key = cluster_world.cluster, cluster_world.keys["cluster-standard"]
    since = log_length(cluster_world)
    answers = [ask(cluster.url, key) for _ in range(8)]
    assert [status for status, _, _ in answers] == [200] * 8
    assert all(headers["zdr-retention"] == "30d" for _, headers, _ in answers)
    running = {i.address for i in cluster.instances if i.running}
    assert set(upstreams_in_access_log(cluster_world, since)) == running


def test_a_killed_instance_s_requests_fail_over(cluster_world: ClusterWorld) -> None:
    """kill -9 of a whole instance: nginx sends every next request to another instance (once
    it has seen the instance's idle connections close: a request sent on one at the very moment
    of the kill gets a 502, which clients retry)."""
    cluster, key = cluster_world.cluster, cluster_world.keys["cluster-standard"]
    victim = cluster.instances[0]
    cluster.kill_instance(victim.number)
    time.sleep(0.5)
    try:
        since = log_length(cluster_world)
        statuses = [ask(cluster.url, key)[0] for _ in range(8)]
        assert statuses == [200] * 8
        assert victim.address not in upstreams_in_access_log(cluster_world, since)
    finally:
        cluster.restart_instance(victim.number)
    assert ask(victim.url, key)[0] == 200


def test_an_instance_started_late_joins_without_migrating(cluster_world: ClusterWorld) -> None:
    """The schema is at head: the late instance changes nothing in it, then takes traffic."""
    cluster, key = cluster_world.cluster, cluster_world.keys["cluster-standard"]
    before = schema_objects(cluster.database_url)
    late = cluster.add_instance()
    assert schema_objects(cluster.database_url) == before
    since = log_length(cluster_world)
    statuses = [ask(cluster.url, key)[0] for _ in range(3 * len(cluster.instances))]
    assert statuses == [200] * len(statuses)
    assert late.address in upstreams_in_access_log(cluster_world, since)
