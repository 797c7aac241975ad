import pytest

from store_seeder import Seeder
from zdr.testing.servers import StubThread


@pytest.fixture(scope="module")
def stub():
    with StubThread() as server:
        yield server


@pytest.fixture
def seeder(tmp_path):
    seeder = Seeder(tmp_path / "home")
    yield seeder
    seeder.close()


@pytest.fixture(scope="module")
def module_seeder(tmp_path_factory):
    """A store shared by one module's tests (for a gateway started once per module)."""
    seeder = Seeder(tmp_path_factory.mktemp("home"))
    yield seeder
    seeder.close()
