"""The recorder a decision gets: a ZDR request's recorder has no way to take content; a
retaining one keeps a stream that ended early as far as it was relayed, once."""

import contextlib
from datetime import UTC, datetime

from zdr.catalog import default_catalog
from zdr.gateway.recorders import MetadataRecorder, RetainingRecorder, recorder_for
from zdr.inmemory import InMemorySink
from zdr.policy import Arrangements, OrgState, RequestFacts, decide

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


def meta_for(decision, outcome="client_disconnected"):
    from zdr.ports import ExchangeMetadata

    return ExchangeMetadata(exchange_id="req_abandoned", org_id="org", workspace_id=None,
                            key_id=None, started_at=NOW, decision=decision, status_code=200,
                            outcome=outcome, stream=True)


def test_an_abandoned_stream_keeps_what_was_relayed_once():
    import asyncio

    sink = InMemorySink()
    recorder = recorder_for(decision_for("none"), sink)
    recorder.relaying(b'{"request": 1}')
    recorder.relayed(b"event: message_start\n\n")
    recorder.relayed(b"event: content_block_delta\n\n")
    asyncio.run(recorder.finish(meta_for(decision_for("none"))))
    [(meta, content)] = sink.retained
    assert meta.outcome == "client_disconnected"     # the metadata says it is partial
    assert content.request == b'{"request": 1}'
    assert content.response == b"event: message_start\n\nevent: content_block_delta\n\n"
    assert [m.outcome for m in sink.metadata] == ["client_disconnected"]


def test_a_completed_or_failed_write_is_never_repeated():
    import asyncio

    from zdr.ports import RetainedContent

    sink = InMemorySink(fail_retained=True)
    recorder = recorder_for(decision_for("none"), sink)
    recorder.relaying(b"req")
    recorder.relayed(b"chunk")

    async def run():
        with contextlib.suppress(ConnectionError):
            await recorder.retain(meta_for(decision_for("none"), "ok"), RetainedContent(b"", b""))
        sink.fail_retained = False
        await recorder.finish(meta_for(decision_for("none"), "store_unavailable"))

    asyncio.run(run())
    assert sink.retained == [] and [m.outcome for m in sink.metadata] == ["store_unavailable"]


def test_a_response_that_never_started_keeps_no_content():
    import asyncio

    sink = InMemorySink()
    recorder = recorder_for(decision_for("none"), sink)
    asyncio.run(recorder.finish(meta_for(decision_for("none"))))
    assert sink.retained == [] and len(sink.metadata) == 1


def test_metadata_is_recorded_even_when_the_partial_write_fails():
    import asyncio

    import pytest

    sink = InMemorySink(fail_retained=True)
    recorder = recorder_for(decision_for("none"), sink)
    recorder.relaying(b"req")
    with pytest.raises(ConnectionError):
        asyncio.run(recorder.finish(meta_for(decision_for("none"))))
    assert [m.outcome for m in sink.metadata] == ["client_disconnected"]
