"""The suite catches a deliberately broken build. The same deployment, the same ZDR traffic:
with the real gateway `zdr verify --canary …` is clean; with a build that logs request bodies, or
one that stores ZDR content, it goes red (exit 1), naming the check that caught it."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest
from deployment import Deployment, Org
from traffic import one_request

BROKEN_BUILD = Path(__file__).with_name("broken_build")

pytestmark = pytest.mark.slow


def zdr_traffic(deployment: Deployment) -> list[str]:
    org = deployment.orgs["bb-zdr"]
    client = anthropic.Anthropic(api_key=org.key, base_url=deployment.url, max_retries=0,
                                 timeout=20.0)
    canaries: list[str] = []
    try:
        for stream in (False, True, False):
            result = one_request(client, org, "none", stream)
            assert result.ok, result.error
            canaries.extend(result.canaries)
    finally:
        client.close()
    return canaries


def verify(deployment: Deployment, canaries: list[str]) -> tuple[int, dict[str, int]]:
    args = [arg for canary in canaries for arg in ("--canary", canary)]
    done = deployment.zdr("verify", *args, "--json", "--quiet", check=False)
    report = json.loads(done.stdout)
    return done.returncode, {c["name"]: len(c["violations"]) for c in report["checks"]
                             if c["violations"]}


def test_verify_goes_red_on_a_broken_build(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path / "home")
    try:
        deployment.initialise([Org("bb-zdr", "zdr")])
        deployment.start_stub()

        deployment.start_gateway(workers=1)
        canaries = zdr_traffic(deployment)
        deployment.stop_gateway()
        assert verify(deployment, canaries) == (0, {})          # the real build: clean

        for breakage, caught_by in (
            ("log-bodies", "canaries"),            # a debug line that prints request bodies
            ("store-zdr-content", "zdr_content"),  # a write path that fails open for ZDR
        ):
            broken_env = {**deployment.env, "PYTHONPATH": str(BROKEN_BUILD),
                          "ZDR_TEST_BREAK": breakage}
            deployment.start_gateway(workers=1, env=broken_env)
            canaries += zdr_traffic(deployment)
            deployment.stop_gateway()
            code, failing = verify(deployment, canaries)
            print(f"\nbroken build '{breakage}': zdr verify exit {code}, violations {failing}")
            assert code == 1
            assert failing.get(caught_by, 0) >= 3                 # one per ZDR request
    finally:
        deployment.close()
