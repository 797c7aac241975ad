"""The recorder a decision gets: a ZDR request's recorder has no way to take content."""

from datetime import UTC, datetime

from zdr.catalog import default_catalog
from zdr.gateway.recorders import MetadataRecorder, RetainingRecorder, recorder_for
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.testing.memory import InMemorySink

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def decision_for(zdr_status):
    arrangements = Arrangements(org=OrgState(plan="api", zdr_status=zdr_status))
    facts = RequestFacts(surface="messages", model="claude-sonnet-5")
    return decide(facts, arrangements, default_catalog(), NOW)


def test_zdr_decision_gets_a_metadata_only_recorder():
    recorder = recorder_for(decision_for("approved"), InMemorySink())
    assert type(recorder) is MetadataRecorder
    assert not hasattr(recorder, "retain")
    # It holds only the bound record_metadata, not the sink (so not record_retained either).
    assert recorder.__slots__ == ("_record_metadata",)


def test_retaining_decision_gets_a_retaining_recorder():
    recorder = recorder_for(decision_for("none"), InMemorySink())
    assert isinstance(recorder, RetainingRecorder)
