"""Each store check of `zdr verify` passes a store the gateway would leave and catches each way of
breaking its promise (rows inserted on purpose)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update
from store_builder import MASTER, NOW, Store, failing

from zdr.control.audit import ChainKey, append, serialized
from zdr.ports import ExchangeMetadata
from zdr.store.tables import (
    admin_tokens,
    api_keys,
    audit_log,
    contents,
    exchanges,
    feature_artifacts,
    holds,
    org_data_keys,
    organizations,
    users,
    workspaces,
)


def filled(store: Store) -> dict[str, object]:
    """A standard org with content, a ZDR org, a ZDR org using a non-eligible feature, flagged."""
    store.org("acme")
    store.org("quiet", zdr=True)
    return {
        "standard": store.exchange("acme"),
        "zdr": store.exchange("quiet", zdr=True),
        "partial": store.exchange("quiet", zdr=True, features=frozenset({"code_execution"})),
        "qualified": store.exchange("quiet", zdr=True,
                                    features=frozenset({"structured_outputs"})),
    }


def test_a_store_the_gateway_would_leave_is_clean(store: Store) -> None:
    made = filled(store)
    store.flag(made["zdr"])                           # misuse exception, also under ZDR
    report = store.verify()
    assert report.ok, report.violations
    statuses = {check.name: check.status for check in report.checks}
    assert statuses == {"zdr_content": "ok", "expiry": "ok", "erasure": "ok",
                        "audit_chain": "ok", "consistency": "ok", "secrets_at_rest": "ok"}
    assert next(c for c in report.checks if c.name == "consistency").examined >= 8


def write_content_anyway(store: Store, meta: ExchangeMetadata) -> None:
    """A content row for an exchange whose decision keeps none (30 days, as if not ZDR)."""
    sealed = store.seal(meta)
    with store.engine.begin() as conn:
        conn.execute(contents.insert().values(
            exchange_id=meta.exchange_id, org_id=meta.org_id, workspace_id=None,
            nonce=sealed.nonce, ciphertext=sealed.ciphertext, rule_ids=[], created_at=NOW,
            expires_at=NOW + timedelta(days=30)))


# -- ZDR content -------------------------------------------------------------------------------

def test_content_row_of_a_zdr_exchange_is_caught(store: Store) -> None:
    made = filled(store)
    meta = made["zdr"]
    write_content_anyway(store, meta)        # what a fail-open write path would do
    found = failing(store.verify())
    assert len(found["zdr_content"]) == 1
    assert found["zdr_content"][0].startswith("contents#")
    assert "consistency" in found                     # its decision keeps no content either


def test_content_row_of_a_partial_zdr_exchange_is_caught(store: Store) -> None:
    meta = filled(store)["partial"]
    write_content_anyway(store, meta)
    assert "zdr_content" in failing(store.verify())


def test_flagged_content_without_the_misuse_exception_is_caught(store: Store) -> None:
    made = filled(store)
    store.flag(made["zdr"], misuse_exception=False)
    assert failing(store.verify())["zdr_content"][0].startswith("flagged_contents#")


def test_artifact_the_decision_does_not_name_is_caught(store: Store) -> None:
    made = filled(store)
    meta = made["zdr"]
    with store.engine.begin() as conn:
        conn.execute(feature_artifacts.insert().values(
            exchange_id=meta.exchange_id, org_id=meta.org_id, feature="files", kind="file",
            created_at=NOW, expires_at=None))
    found = failing(store.verify())
    assert found["zdr_content"][0].startswith("feature_artifacts#")


def test_content_without_its_metadata_row_is_caught(store: Store) -> None:
    org = store.org("ghost")
    with store.engine.begin() as conn:
        conn.execute(contents.insert().values(
            exchange_id="ex_orphan", org_id=org, nonce=b"n" * 12, ciphertext=b"c" * 40,
            rule_ids=[], created_at=NOW, expires_at=NOW + timedelta(days=30)))
    assert failing(store.verify())["zdr_content"] == ["contents#1"]


# -- expiry and holds --------------------------------------------------------------------------

def old_standard_exchange(store: Store, days_ago: float) -> object:
    """Content of a 30-day org that expired `days_ago - 30` days before NOW."""
    store.org("acme")
    return store.exchange("acme", started=NOW - timedelta(days=days_ago))


def test_expired_unheld_content_is_caught(store: Store) -> None:
    old_standard_exchange(store, 40)
    found = failing(store.verify())
    assert found["expiry"] == ["contents#1"]


@pytest.mark.parametrize("minutes_past, caught", [
    (20, False),      # inside the catalog's grace (3600 s): purge may not have run yet
    (130, True),      # well past the grace
])
def test_the_grace_is_the_catalogs(store: Store, minutes_past: int, caught: bool) -> None:
    store.org("acme")
    store.exchange("acme", started=NOW - timedelta(days=30, minutes=minutes_past))
    assert ("expiry" in failing(store.verify(at=NOW))) is caught


@pytest.mark.parametrize("scope", ["org", "workspace", "exchange"])
def test_an_active_hold_covers_expired_records(store: Store, scope: str) -> None:
    meta = old_standard_exchange(store, 40)
    workspace = "ws-1"
    with store.engine.begin() as conn:
        for table in (exchanges, contents):
            conn.execute(update(table).values(workspace_id=workspace))
        conn.execute(holds.insert().values(
            id=str(uuid.uuid4()), kind="legal", scope=scope, org_id=meta.org_id,
            workspace_id=workspace if scope == "workspace" else None,
            exchange_id=meta.exchange_id if scope == "exchange" else None,
            reason="litigation", placed_by="legal-1", placed_at=NOW - timedelta(days=1)))
    assert "expiry" not in failing(store.verify())


def test_a_released_hold_covers_nothing(store: Store) -> None:
    meta = old_standard_exchange(store, 40)
    with store.engine.begin() as conn:
        conn.execute(holds.insert().values(
            id=str(uuid.uuid4()), kind="legal", scope="org", org_id=meta.org_id,
            reason="done", placed_by="legal-1", placed_at=NOW - timedelta(days=9),
            released_by="legal-1", released_at=NOW - timedelta(days=1)))
    assert failing(store.verify())["expiry"] == ["contents#1"]


def test_a_hold_on_another_org_covers_nothing(store: Store) -> None:
    old_standard_exchange(store, 40)
    other = store.org("other")
    with store.engine.begin() as conn:
        conn.execute(holds.insert().values(
            id=str(uuid.uuid4()), kind="legal", scope="org", org_id=other, reason="x",
            placed_by="legal-1", placed_at=NOW))
    assert "expiry" in failing(store.verify())


# -- erasure -----------------------------------------------------------------------------------

def test_content_left_under_a_destroyed_key_is_caught(store: Store) -> None:
    made = filled(store)
    store.keyring.destroy(made["standard"].org_id, NOW)
    found = failing(store.verify())
    assert found["erasure"] == ["contents#1"]


def test_a_destroyed_key_that_keeps_its_material_is_caught(store: Store) -> None:
    made = filled(store)
    org_id = made["zdr"].org_id
    with store.engine.begin() as conn:
        conn.execute(update(org_data_keys).where(org_data_keys.c.org_id == org_id)
                     .values(destroyed_at=NOW))           # marked destroyed, key left in place
    assert f"org_data_keys#{org_id}" in failing(store.verify())["erasure"]


def test_an_erased_org_with_an_intact_key_is_caught(store: Store) -> None:
    made = filled(store)
    org_id = made["zdr"].org_id
    with store.engine.begin() as conn:
        conn.execute(update(organizations).where(organizations.c.id == org_id)
                     .values(deleted_at=NOW - timedelta(days=8), erased_at=NOW))
    assert failing(store.verify())["erasure"] == [f"organizations#{org_id}"]


def test_content_of_an_org_deleted_past_its_restore_window_is_caught(store: Store) -> None:
    made = filled(store)
    org_id = made["standard"].org_id
    with store.engine.begin() as conn:
        conn.execute(update(organizations).where(organizations.c.id == org_id)
                     .values(deleted_at=NOW - timedelta(days=8)))
    assert failing(store.verify())["erasure"] == ["contents#1"]
    with store.engine.begin() as conn:                    # still restorable: fine
        conn.execute(update(organizations).where(organizations.c.id == org_id)
                     .values(deleted_at=NOW - timedelta(days=6)))
    assert "erasure" not in failing(store.verify())


# -- audit chain -------------------------------------------------------------------------------

def write_audit(store: Store, count: int) -> None:
    for number in range(count):
        with serialized(store.engine) as conn:
            append(conn, ChainKey.from_master_key(MASTER), actor="admin@example.com",
                   role="provider_admin", org_id=None, action="orgs.create",
                   target=f"org-{number}", after={"plan": "api"},
                   at=NOW - timedelta(minutes=count - number))


def test_an_intact_audit_chain_passes_and_an_edited_entry_is_caught(store: Store) -> None:
    write_audit(store, 5)
    report = store.verify()
    audit = next(c for c in report.checks if c.name == "audit_chain")
    assert audit.status == "ok" and audit.examined == 5
    with store.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(target="org-other"))
    assert failing(store.verify())["audit_chain"] == ["audit_log#3"]


def test_deleting_the_newest_audit_entries_is_caught_with_the_head(store: Store) -> None:
    write_audit(store, 4)
    head = next(c for c in store.verify().checks if c.name == "audit_chain").notes[0].split()[-1]
    with store.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 4))
    assert "audit_chain" not in failing(store.verify())          # a shorter chain is valid...
    assert "audit_chain" in failing(store.verify(audit_head=head))  # ...unless the head is known


# -- decision/record consistency ---------------------------------------------------------------

def test_content_kept_longer_than_its_plan_is_caught(store: Store) -> None:
    filled(store)
    with store.engine.begin() as conn:
        conn.execute(update(contents).values(expires_at=NOW + timedelta(days=90)))
    found = failing(store.verify())
    assert found["consistency"] == ["contents#1"]


def test_content_expiring_before_its_plan_is_caught(store: Store) -> None:
    filled(store)
    with store.engine.begin() as conn:
        conn.execute(update(contents).values(expires_at=NOW + timedelta(days=2)))
    assert failing(store.verify())["consistency"] == ["contents#1"]


def test_an_artifact_kept_longer_than_its_feature_allows_is_caught(store: Store) -> None:
    made = filled(store)
    with store.engine.begin() as conn:
        conn.execute(update(feature_artifacts)
                     .where(feature_artifacts.c.exchange_id == made["qualified"].exchange_id)
                     .values(expires_at=NOW + timedelta(days=30)))   # schema: 24 hours at most
    assert len(failing(store.verify())["consistency"]) == 1


def test_metadata_columns_that_contradict_the_decision_are_caught(store: Store) -> None:
    made = filled(store)
    with store.engine.begin() as conn:
        conn.execute(update(exchanges).where(exchanges.c.id == made["zdr"].exchange_id)
                     .values(zdr_state="none"))
    assert failing(store.verify())["consistency"] == [f"exchanges#{made['zdr'].exchange_id}"]


def test_a_plan_that_does_not_follow_from_its_catalog_is_caught(store: Store) -> None:
    made = filled(store)
    exchange_id = made["standard"].exchange_id
    decision = dict(made["standard"].decision.as_json())
    decision["keep"] = {**decision["keep"], "metadata": {"kept": True, "days": 9999}}
    with store.engine.begin() as conn:
        conn.execute(update(exchanges).where(exchanges.c.id == exchange_id)
                     .values(decision=decision))
    problems = [v.problem for v in store.verify().violations if v.check == "consistency"]
    assert any("differs from the catalog's 400 days" in p for p in problems)


def test_a_decision_naming_an_unknown_catalog_is_caught(store: Store) -> None:
    made = filled(store)
    exchange_id = made["zdr"].exchange_id
    decision = {**made["zdr"].decision.as_json(), "catalog_version": "1999-01-01.1"}
    with store.engine.begin() as conn:
        conn.execute(update(exchanges).where(exchanges.c.id == exchange_id)
                     .values(decision=decision, catalog_version="1999-01-01.1"))
    problems = [v.problem for v in store.verify().violations if v.check == "consistency"]
    assert any("cannot find" in p for p in problems)


def test_an_archived_catalog_version_is_found(store: Store) -> None:
    """Old catalogs kept in HOME/catalogs explain the decisions made under them."""
    from zdr.catalog.load import default_catalog
    made = filled(store)
    source = default_catalog().source_path
    from importlib import resources
    text = resources.files("zdr.catalog").joinpath("default.toml").read_text(encoding="utf-8")
    current = default_catalog().version
    archive = store.settings.home / "catalogs"
    archive.mkdir()
    (archive / "old.toml").write_text(text.replace(f'version = "{current}"',
                                                   'version = "1999-01-01.1"'), encoding="utf-8")
    decision = {**made["zdr"].decision.as_json(), "catalog_version": "1999-01-01.1"}
    with store.engine.begin() as conn:
        conn.execute(update(exchanges).where(exchanges.c.id == made["zdr"].exchange_id)
                     .values(decision=decision, catalog_version="1999-01-01.1"))
    assert store.verify().ok, source


# -- secrets at rest ---------------------------------------------------------------------------

def test_keys_tokens_and_passwords_in_clear_are_caught(store: Store) -> None:
    org = store.org("acme")
    with store.engine.begin() as conn:
        conn.execute(users.insert().values(id="u1", email="a@example.com",
                                           password_hash="hunter2hunter2", created_at=NOW))
        conn.execute(workspaces.insert().values(id="w1", org_id=org, name="default",
                                                created_at=NOW))
        conn.execute(api_keys.insert().values(
            id="k1", org_id=org, workspace_id="w1", kind="api", prefix="sk-zdr-0123abcd",
            key_hash="sk-zdr-0123abcd-thewholesecretinclear", created_at=NOW))
        conn.execute(admin_tokens.insert().values(
            id="t1", user_id="u1", prefix="zdra-0123abcd-thewholesecret",
            token_hash="f" * 64, created_at=NOW))
    assert sorted(failing(store.verify())["secrets_at_rest"]) == [
        "admin_tokens#t1", "api_keys#k1", "users#u1"]
