import uuid
from datetime import UTC, datetime

import pytest

from zdr.keys import new_api_key
from zdr.settings import load_settings
from zdr.testing.servers import StubThread

store_db = pytest.importorskip("zdr.store.db")
store_crypto = pytest.importorskip("zdr.store.crypto")
tables = pytest.importorskip("zdr.store.tables")


@pytest.fixture(scope="module")
def stub():
    with StubThread() as server:
        yield server


class Seeder:
    """Organizations, workspaces and keys written straight into a fresh store."""

    def __init__(self, home):
        self.settings = load_settings(env={}, home=home)
        self.engine = store_db.engine_for(self.settings.database_url)
        store_db.migrate(self.engine)
        store_crypto.create_master_key_file(self.settings.key_file)

    def org(self, name, *, plan="api", zdr=False, hipaa=False):
        now = datetime.now(UTC)
        org_id, ws_id, key = str(uuid.uuid4()), str(uuid.uuid4()), new_api_key()
        with self.engine.begin() as conn:
            conn.execute(tables.organizations.insert().values(
                id=org_id, name=name, plan=plan, created_at=now,
                zdr_status="approved" if zdr else "none", zdr_effective_at=now if zdr else None,
                hipaa=hipaa, baa_version="2026-01" if hipaa else None))
            conn.execute(tables.workspaces.insert().values(
                id=ws_id, org_id=org_id, name="default", created_at=now))
            conn.execute(tables.api_keys.insert().values(
                id=str(uuid.uuid4()), org_id=org_id, workspace_id=ws_id, kind="api",
                prefix=key.prefix, key_hash=key.digest, created_at=now))
        return key.secret, org_id


@pytest.fixture
def seeder(tmp_path):
    seeder = Seeder(tmp_path / "home")
    yield seeder
    seeder.engine.dispose()


@pytest.fixture(scope="module")
def module_seeder(tmp_path_factory):
    """A store shared by one module's tests (for a gateway started once per module)."""
    seeder = Seeder(tmp_path_factory.mktemp("home"))
    yield seeder
    seeder.engine.dispose()
