"""The gateway's pipeline with the classifier in child processes: the event loop sends batches to
the children's pipes and reads their answers itself (no classifier thread in this process), and
keeps every promise of the threaded path: one result per exchange, a dead or stuck child killed
and replaced with its batch's exchanges failed and counted, `stop` within its timeout, big texts
without blocking the loop, and the text never in a log line."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator

import pytest
from child_classifiers import WatchedText
from safety_data import make_meta

from zdr.inmemory import InMemorySafetySink
from zdr.observability import make_logger
from zdr.ports import ExchangeMetadata
from zdr.safety.pipeline import SafetyPipeline
from zdr.safety.processes import ProcessClassifier
from zdr.testing.logcapture import CapturedLines

SCRIPTED = "child_classifiers:Scripted"
CANARY = "canary-loop-9d2e"


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def child_pid(sink: InMemorySafetySink, meta: ExchangeMetadata) -> int:
    return int(sink.results[meta.exchange_id].scores["pid"])


async def until(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


class Setup:
    def __init__(self, pipeline: SafetyPipeline, sink: InMemorySafetySink,
                 lines: CapturedLines, classifier: ProcessClassifier) -> None:
        self.pipeline, self.sink, self.lines, self.classifier = pipeline, sink, lines, classifier

    def errors(self) -> float:
        return self.pipeline.metrics.value("zdr_classifier_errors_total", stage="classify")

    def pids(self) -> list[int]:
        return [pid for pid in self.classifier.pids if pid is not None]


async def make_setup(timeout: float = 5.0, processes: int = 1,
                     queue_size: int = 1000) -> Setup:
    classifier = await asyncio.to_thread(ProcessClassifier, SCRIPTED, processes=processes,
                                         timeout=timeout)
    sink = InMemorySafetySink()
    lines = CapturedLines()
    pipeline = SafetyPipeline(classifier, sink, queue_size=queue_size,
                              logger=make_logger(lines))
    await pipeline.start()
    return Setup(pipeline, sink, lines, classifier)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    made = await make_setup()
    yield made
    await made.pipeline.stop(timeout=10)


async def test_no_classifier_thread_runs_in_the_gateway_process(setup: Setup) -> None:
    metas = [make_meta(zdr=True) for _ in range(50)]
    for meta in metas:
        setup.pipeline.submit(meta, f"hello {CANARY}", "hi")
    await until(lambda: len(setup.sink.results) == 50)
    assert not [thread.name for thread in threading.enumerate()
                if thread.name.startswith("zdr-classifier")]
    [pid] = setup.pids()
    assert {child_pid(setup.sink, meta) for meta in metas} == {pid} and pid != os.getpid()
    assert setup.pipeline.metrics.value("zdr_classifier_classified_total", flagged="false") == 50
    assert setup.pipeline.completed == 50


async def test_a_child_killed_mid_batch_fails_its_batch_and_is_replaced(setup: Setup) -> None:
    [old] = setup.pids()
    metas = [make_meta(zdr=True) for _ in range(5)]
    for index, meta in enumerate(metas):        # one batch: the child dies on the third
        setup.pipeline.submit(meta, f"exit-now {CANARY}" if index == 2 else CANARY, CANARY)
    await until(lambda: len(setup.sink.results) == 5)
    assert all(setup.sink.results[meta.exchange_id].scores == {} for meta in metas)
    assert setup.errors() == 5
    events = setup.lines.events("classifier_failed")
    assert sorted(event["request_id"] for event in events) == sorted(m.exchange_id for m in metas)
    assert {event["error_type"] for event in events} == {"ClassifierChildExited"}
    assert not running(old)
    after = make_meta(zdr=True)
    await until(lambda: len(setup.pids()) == 1 and setup.pids() != [old])
    setup.pipeline.submit(after, "ok", "")
    await until(lambda: after.exchange_id in setup.sink.results)
    assert child_pid(setup.sink, after) not in (old, os.getpid())
    assert CANARY not in setup.lines.text()


async def test_a_child_killed_from_outside_is_replaced_and_its_batch_counted() -> None:
    setup = await make_setup(timeout=10.0)
    try:
        [old] = setup.pids()
        meta = make_meta(zdr=True)
        setup.pipeline.submit(meta, f"pause-now {CANARY}", "")
        await asyncio.sleep(0.2)                # the child holds the batch
        os.kill(old, 9)
        await until(lambda: meta.exchange_id in setup.sink.results)
        assert setup.sink.results[meta.exchange_id].scores == {} and setup.errors() == 1
        after = make_meta(zdr=True)
        setup.pipeline.submit(after, "ok", "")
        await until(lambda: after.exchange_id in setup.sink.results)
        assert child_pid(setup.sink, after) != old
    finally:
        await setup.pipeline.stop(timeout=10)
    assert CANARY not in setup.lines.text()


async def test_a_child_that_does_not_answer_in_time_is_killed_and_replaced() -> None:
    setup = await make_setup(timeout=1.0)
    try:
        [old] = setup.pids()
        stuck = make_meta(zdr=True)
        setup.pipeline.submit(stuck, f"hang-now {CANARY}", "")
        await until(lambda: stuck.exchange_id in setup.sink.results)
        assert setup.sink.results[stuck.exchange_id].scores == {} and setup.errors() == 1
        [event] = setup.lines.events("classifier_failed")
        assert event == {**event, "error_type": "TimeoutError", "request_id": stuck.exchange_id}
        await until(lambda: not running(old))
        after = make_meta(zdr=True)
        setup.pipeline.submit(after, "ok", "")
        await until(lambda: after.exchange_id in setup.sink.results)
        assert child_pid(setup.sink, after) not in (old, os.getpid())
    finally:
        await setup.pipeline.stop(timeout=10)
    assert CANARY not in setup.lines.text()


async def test_a_classifier_error_fails_the_batch_and_the_child_keeps_serving(
        setup: Setup) -> None:
    [pid] = setup.pids()
    failing, fine = make_meta(zdr=True), make_meta(zdr=True)
    setup.pipeline.submit(failing, f"raise-now {CANARY}", "")
    await until(lambda: failing.exchange_id in setup.sink.results)
    setup.pipeline.submit(fine, "ok", "")
    await until(lambda: fine.exchange_id in setup.sink.results)
    assert setup.sink.results[failing.exchange_id].scores == {}
    assert child_pid(setup.sink, fine) == pid and setup.pids() == [pid]
    [event] = setup.lines.events("classifier_failed")
    assert event["error_type"] == "ValueError"
    assert CANARY not in setup.lines.text()


async def test_stop_classifies_what_it_can_and_samples_out_the_rest() -> None:
    setup = await make_setup(timeout=10.0, queue_size=500)
    metas = [make_meta(zdr=True) for _ in range(200)]
    first = metas[0]
    setup.pipeline.submit(first, "pause-now", "")        # holds the only child for 0.5 s
    await asyncio.sleep(0.05)
    for meta in metas[1:]:
        setup.pipeline.submit(meta, f"pause-now {CANARY}", "")  # a batch would take 100 s
    started = time.monotonic()
    await setup.pipeline.stop(timeout=1.5)
    assert time.monotonic() - started < 5
    results = setup.sink.results
    assert set(results) == {meta.exchange_id for meta in metas}     # one result each
    assert results[first.exchange_id].scores["pid"] > 0
    sampled = setup.pipeline.metrics.value("zdr_classifier_sampled_out_total")
    failed = setup.errors()
    # the batch sent after the first was cut off by the deadline: failed, its child killed
    assert failed == 64 and sampled == 199 - 64
    assert sum(result.sampled_out for result in results.values()) == sampled
    assert not any(running(pid) for pid in setup.pids())
    later = make_meta(zdr=True)
    setup.pipeline.submit(later, "after stop", "")          # sampled out, not queued
    await asyncio.sleep(0.05)
    assert CANARY not in setup.lines.text()


async def test_big_texts_go_through_the_pipe_without_blocking_the_loop(setup: Setup) -> None:
    """Several megabytes per message: the pipe takes a fraction at once; the rest is written
    when it is writable while the loop keeps serving."""
    big = ("x" * 1023 + "\n") * 4096            # 4 MiB of text, not trimmed by this classifier
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    metas = [make_meta(zdr=True) for _ in range(3)]
    for meta in metas:
        setup.pipeline.submit(meta, "flag-now " + big, big)
    await until(lambda: len(setup.sink.results) == 3, 60)
    done.set()
    await ticking
    [pid] = setup.pids()
    assert all(child_pid(setup.sink, meta) == pid for meta in metas)
    assert all(setup.sink.flagged[meta.exchange_id].response == big.encode() for meta in metas)
    assert len(gaps) > 5 and max(gaps) < 1.0


async def test_an_exchange_of_many_parts_goes_in_several_messages(setup: Setup) -> None:
    meta = make_meta(zdr=True)
    parts = [(f"part {index} {CANARY}", "") for index in range(150)]
    parts[140] = (f"flag-now {CANARY}", "out")
    setup.pipeline.submit_parts(meta, parts)
    await until(lambda: meta.exchange_id in setup.sink.results)
    result = setup.sink.results[meta.exchange_id]
    assert result.flagged and result.labels == {"pid": True}
    assert setup.sink.flagged[meta.exchange_id].request == f"flag-now {CANARY}".encode()
    assert setup.errors() == 0


async def test_batches_go_to_several_children_in_parallel() -> None:
    setup = await make_setup(timeout=10.0, processes=2)
    try:
        metas = [make_meta(zdr=True) for _ in range(2)]
        started = time.monotonic()
        setup.pipeline.submit(metas[0], "pause-now", "")
        await asyncio.sleep(0.1)                # past the batch window: the first child has it
        setup.pipeline.submit(metas[1], "pause-now", "")
        await until(lambda: len(setup.sink.results) == 2)
        assert time.monotonic() - started < 1.0             # 0.5 s each, side by side
        assert {child_pid(setup.sink, meta) for meta in metas} == set(setup.pids())
    finally:
        await setup.pipeline.stop(timeout=10)


async def test_a_submit_from_another_thread_is_classified(setup: Setup) -> None:
    meta = make_meta(zdr=True)
    await asyncio.to_thread(setup.pipeline.submit, meta, "ok", "")
    await until(lambda: meta.exchange_id in setup.sink.results)
    assert child_pid(setup.sink, meta) == setup.pids()[0]


async def test_exchanges_queued_close_together_share_one_message(setup: Setup) -> None:
    """Under load a message per exchange would cost more than the scoring: what is queued within
    the batch window goes to the child together (here: the same child, one call's worth)."""
    children = setup.pipeline._children
    assert children is not None
    [place] = children._places
    assert place.pipe is not None
    messages: list[int] = []
    write = place.pipe.write
    place.pipe.write = lambda payload: (messages.append(1), write(payload))  # type: ignore[method-assign]
    metas = [make_meta(zdr=True) for _ in range(10)]
    for meta in metas:
        setup.pipeline.submit(meta, "ok", "")
        await asyncio.sleep(0)
    await until(lambda: len(setup.sink.results) == 10)
    assert len(messages) == 1
    assert setup.pipeline.metrics.value("zdr_classifier_seconds_count") == 10


async def test_a_full_queue_samples_out_and_counts(setup: Setup) -> None:
    small = await make_setup(timeout=10.0, queue_size=3)
    try:
        busy = make_meta(zdr=True)
        small.pipeline.submit(busy, "pause-now", "")
        await asyncio.sleep(0.1)                # sent: the queue is empty again
        metas = [make_meta(zdr=True) for _ in range(5)]
        for meta in metas:
            small.pipeline.submit(meta, "ok", "")
        assert small.pipeline.metrics.value("zdr_classifier_sampled_out_total") == 2
        await until(lambda: len(small.sink.results) == 6)
        assert sum(r.sampled_out for r in small.sink.results.values()) == 2
    finally:
        await small.pipeline.stop(timeout=10)


async def test_a_pipeline_stopped_before_it_started_samples_out_at_once() -> None:
    classifier = await asyncio.to_thread(ProcessClassifier, SCRIPTED)
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(classifier, sink)
    meta = make_meta(zdr=True)
    pipeline.submit(meta, CANARY, "")
    started = time.monotonic()
    await pipeline.stop(timeout=5)
    assert time.monotonic() - started < 3
    assert pipeline.metrics.value("zdr_classifier_sampled_out_total") == 1
    pids = [pid for pid in classifier.pids if pid is not None]
    assert not any(running(pid) for pid in pids)


async def test_nothing_holds_the_text_once_its_result_is_written(setup: Setup) -> None:
    text, output = WatchedText(f"hello {CANARY}"), WatchedText(f"flag-now {CANARY}")
    flagged = WatchedText(f"flag-now {CANARY} in")
    watched = [weakref.ref(text), weakref.ref(output), weakref.ref(flagged)]
    clean, kept = make_meta(zdr=True), make_meta(zdr=True)
    setup.pipeline.submit(clean, text, output)
    setup.pipeline.submit(kept, flagged, "")
    del text, output, flagged
    await until(lambda: len(setup.sink.results) == 2)
    gc.collect()
    assert [ref() for ref in watched] == [None, None, None]
    assert setup.sink.flagged[kept.exchange_id].request == f"flag-now {CANARY} in".encode()


def test_the_gateway_loop_uvloop_drives_the_children_too() -> None:
    """`zdr serve` runs on uvloop, whose transports are not asyncio's classes."""
    import uvloop

    async def scenario() -> None:
        setup = await make_setup(timeout=5.0)
        try:
            big = "y" * 3_000_000
            metas = [make_meta(zdr=True) for _ in range(4)]
            for meta in metas[:3]:
                setup.pipeline.submit(meta, big, "ok")
            await until(lambda: len(setup.sink.results) == 3, 60)
            [old] = setup.pids()
            assert {child_pid(setup.sink, meta) for meta in metas[:3]} == {old}
            setup.pipeline.submit(metas[3], f"exit-now {CANARY}", "")
            await until(lambda: len(setup.sink.results) == 4)
            assert setup.errors() == 1
            after = make_meta(zdr=True)
            setup.pipeline.submit(after, "ok", "")
            await until(lambda: after.exchange_id in setup.sink.results)
            assert child_pid(setup.sink, after) != old
        finally:
            await setup.pipeline.stop(timeout=10)
        assert CANARY not in setup.lines.text()

    uvloop.run(scenario())
