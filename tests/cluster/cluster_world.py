"""The cluster tests' world: a running `LocalCluster` and the organizations made on it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from zdr.cluster.local import LocalCluster

CACHE_TTL = 30.0


@dataclass
class ClusterWorld:
    cluster: LocalCluster
    keys: dict[str, str] = field(default_factory=dict)       # org name -> API key
    reviewer_token: str = ""                                  # admin API token of a reviewer

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
    world.reviewer_token = plane.accounts.create_token(operator, "reviewer@example.com").secret
    for name in ("cluster-standard", "cluster-changing"):
        plane.orgs.create(operator, name, "api")
        world.keys[name] = plane.keys.create(operator, name, None, "api", None).secret
    plane.ctx.engine.dispose()
    return world


BODY = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "hello"}]}).encode()


def ask(url: str, key: str, body: bytes = BODY, timeout: float = 20
        ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"{url}/v1/messages", data=body, method="POST", headers={
        "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
