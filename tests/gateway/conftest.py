import pytest
from memory_gateway import World, memory_world

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


@pytest.fixture
def world(tmp_path) -> World:
    """The gateway app on in-memory ports and the in-memory upstream, without sockets."""
    return memory_world(tmp_path / "home")
