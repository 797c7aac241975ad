"""The cluster tests' world: a running `LocalCluster` and the organizations made on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zdr.cluster.local import LocalCluster


@dataclass
class ClusterWorld:
    cluster: LocalCluster
    keys: dict[str, str] = field(default_factory=dict)       # org name -> API key

    def plane(self) -> Any:
        """The control plane on the cluster's database, as `zdr orgs …` would build it."""
        from zdr.control.plane import build_control_plane
        from zdr.settings import load_settings

        return build_control_plane(load_settings(env={}, home=self.cluster.home))


def make_world(cluster: LocalCluster) -> ClusterWorld:
    from zdr.control.roles import system_actor

    world = ClusterWorld(cluster)
    plane = world.plane()
    operator = system_actor()
    plane.accounts.create_user(operator, "reviewer@example.com", provider_roles=["reviewer"])
    plane.accounts.create_user(operator, "legal@example.com", provider_roles=["legal"])
    for name in ("cluster-standard", "cluster-changing"):
        plane.orgs.create(operator, name, "api")
        world.keys[name] = plane.keys.create(operator, name, None, "api", None).secret
    plane.ctx.engine.dispose()
    return world
