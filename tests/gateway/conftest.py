import pytest

from zdr.testing.harness import GatewayHarness
from zdr.testing.servers import StubThread


@pytest.fixture(scope="module")
def stub():
    with StubThread() as server:
        yield server


@pytest.fixture
def gateway(stub, tmp_path):
    with GatewayHarness(tmp_path / "home", stub.url) as gw:
        yield gw
