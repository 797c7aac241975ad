"""ProcessClassifier's own children and pipes: spawn, one child per call at a time, errors by type
only, a dead or stuck child replaced, close() ends them all."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
from safety_data import make_meta

from zdr.inmemory import InMemorySafetySink
from zdr.observability import make_logger
from zdr.safety.classifier import ClassificationResult, ClassifierUnavailable
from zdr.safety.pipeline import SafetyPipeline
from zdr.safety.processes import ChildClassifierError, ClassifierChildExited, ProcessClassifier
from zdr.testing.logcapture import CapturedLines

SCRIPTED = "child_classifiers:Scripted"
CANARY = "canary-child-7f3a"


def child_pid(result: ClassificationResult) -> int:
    return int(result.scores["pid"])


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def scripted() -> ProcessClassifier:
    classifier = ProcessClassifier(SCRIPTED, timeout=2.0)
    yield classifier    # type: ignore[misc]
    classifier.close()


def test_children_are_spawned_and_answer_from_their_own_process(
        scripted: ProcessClassifier) -> None:
    [child] = scripted._children
    assert isinstance(child.process, multiprocessing.get_context("spawn").Process)
    assert (scripted.name, scripted.version, scripted.max_chars) == ("scripted", "1", None)
    results = scripted.classify_many([("a", ""), ("b", "")])
    assert [child_pid(r) for r in results] == [child.process.pid] * 2
    assert child_pid(scripted.classify("c", "")) == child.process.pid != os.getpid()


def test_a_classifier_error_comes_back_as_its_type_only(scripted: ProcessClassifier) -> None:
    pid = scripted.pids[0]
    with pytest.raises(ChildClassifierError) as error:
        scripted.classify(f"raise-now {CANARY}", "")
    assert error.value.raised_type == "ValueError"
    assert CANARY not in str(error.value) and CANARY not in repr(error.value.args)
    assert error.value.__cause__ is None and error.value.__context__ is None
    assert scripted.pids == [pid]           # the child is fine and keeps serving
    assert child_pid(scripted.classify("ok", "")) == pid


def test_a_child_that_exits_is_reported_and_replaced(scripted: ProcessClassifier) -> None:
    old = scripted.pids[0]
    assert old is not None
    with pytest.raises(ClassifierChildExited) as error:
        scripted.classify(f"exit-now {CANARY}", "")
    assert "EOFError" in str(error.value) and CANARY not in str(error.value)
    assert not running(old)
    replaced = child_pid(scripted.classify("ok", ""))
    assert replaced != old and scripted.pids == [replaced]


def test_a_child_that_does_not_answer_in_time_is_killed_and_replaced(
        scripted: ProcessClassifier) -> None:
    old = scripted.pids[0]
    assert old is not None
    with pytest.raises(TimeoutError) as error:
        scripted.classify(f"hang-now {CANARY}", "")
    assert CANARY not in str(error.value)
    assert not running(old)
    assert child_pid(scripted.classify("ok", "")) not in (old, None)


def test_a_child_slow_to_start_fails_with_classifier_unavailable() -> None:
    with pytest.raises(ClassifierUnavailable) as error:
        ProcessClassifier(f"{SCRIPTED}?load_delay=20", start_timeout=1.0)
    assert "failed to start" in error.value.message and "TimeoutError" in error.value.message


def test_close_ends_every_child_and_later_calls_fail() -> None:
    classifier = ProcessClassifier(SCRIPTED, processes=2)
    pids = classifier.pids
    assert len(set(pids)) == 2
    classifier.close()
    assert not any(running(pid) for pid in pids if pid is not None)
    with pytest.raises(RuntimeError):
        classifier.classify("x", "")


def test_calls_at_the_same_time_use_different_children() -> None:
    """Two threads each hold a child for their call (as two pipeline workers do)."""
    classifier = ProcessClassifier(SCRIPTED, processes=2, timeout=10.0)
    try:
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(
            child_pid(classifier.classify("pause-now", "")))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(results) == sorted(pid for pid in classifier.pids if pid is not None)
    finally:
        classifier.close()


async def test_the_pipeline_logs_a_child_error_by_its_original_type(
        captured_lines: CapturedLines) -> None:
    classifier = ProcessClassifier(SCRIPTED, timeout=5.0)
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(classifier, sink, logger=make_logger(captured_lines))
    await pipeline.start()
    meta = make_meta(zdr=True)
    pipeline.submit(meta, f"raise-now {CANARY}", "")
    await pipeline.stop(timeout=10)
    assert sink.results[meta.exchange_id].scores == {}
    [event] = captured_lines.events("classifier_failed")
    assert event["error_type"] == "ValueError" and event["request_id"] == meta.exchange_id
    assert CANARY not in captured_lines.text()


@pytest.fixture
def captured_lines() -> CapturedLines:
    return CapturedLines()


@pytest.mark.skipif(not os.path.exists("/proc/self/limits"), reason="reads /proc")
def test_a_child_can_dump_no_core_whatever_its_parent_allows(
        scripted: ProcessClassifier) -> None:
    """The child holds the texts it scores: no core file limit it could raise, whatever ours."""
    [pid] = scripted.pids
    with open(f"/proc/{pid}/limits") as limits:
        line = next(row for row in limits if row.startswith("Max core file size"))
    assert line.split()[4:6] == ["0", "0"]


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
def test_a_child_does_not_preempt_the_event_loop_that_wakes_it(
        scripted: ProcessClassifier) -> None:
    """Background work: a batch written by the gateway's loop must not put the loop off the CPU
    until the child has scored it (SCHED_BATCH: no wake-up preemption)."""
    [pid] = scripted.pids
    assert pid is not None
    assert os.sched_getscheduler(pid) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) != os.SCHED_BATCH        # the gateway's process keeps its own
