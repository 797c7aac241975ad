"""One local cluster for the folder's tests: PostgreSQL, two `zdr serve` instances with two
workers each, the stand-in upstream and nginx in front (`zdr.cluster.local.LocalCluster`), with
the people and organizations the tests use. When a part cannot start the tests FAIL, never skip:
CI installs nginx and PostgreSQL (.ci/run)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cluster_world import CACHE_TTL, ClusterWorld, make_world

from zdr.cluster.local import LocalCluster


@pytest.fixture(scope="package")
def cluster_world() -> Iterator[ClusterWorld]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDR_")}
    # A long key-cache TTL: what reaches another instance quickly was carried by a notice.
    cluster = LocalCluster(instances_at_start=2, workers=2, env=env,
                           settings={"ZDR_KEY_CACHE_TTL_SECONDS": str(CACHE_TTL)})
    try:
        cluster.start()
    except Exception as error:
        cluster.stop()
        pytest.fail(f"the local cluster could not start: {error}", pytrace=False)
    try:
        yield make_world(cluster)
    finally:
        cluster.stop()
