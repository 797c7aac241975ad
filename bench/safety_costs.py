"""CPU time per call of the default classifier and its parts, for one source tree, as JSON.

    .venv/bin/python bench/safety_costs.py [--src DIR] [--rounds 5]
    .venv/bin/python bench/safety_costs.py --handoff [--src DIR] [--previous-src DIR]

`--handoff` measures the gateway side of the pipeline instead: see `handoff_run`. With
`--previous-src` it runs one child process per tree and round, alternating, and prints a markdown
table with the ratios.

bench/safety.py runs this once per tree it compares (this checkout's `src`, and with its
`--previous-src` an older tree, e.g. one made by
`git archive <commit> src/zdr | tar -x -C /tmp/previous` → `--previous-src /tmp/previous/src`).
Each case is timed two ways in this process: the tree's own code ("shipped") and the
straightforward reference of tests/safety/reference_scoring.py (every cue's pattern searched
directly, the profanity model term by term and fold by fold, every needle looked up with `in`),
whose scores the shipped code must equal. Figures are CPU microseconds per call
(`time.process_time`), the best of `--rounds` rounds: a busy machine slows a round, it cannot
make one faster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SHORT_INPUT = "Say hello in one short sentence, please."
SHORT_OUTPUT = "Hello! " * 28
LONG_OUTPUT = ("The deployment failed because the worker process was killed by the OOM killer; "
               "raise the memory limit, then restart the job and watch the logs. ") * 40


def cpu_per_call(fn: Callable[[], Any], rounds: int, round_seconds: float = 0.15) -> float:
    """Best-of-`rounds` CPU microseconds per call of `fn`."""
    calls = 1
    while True:                     # calls per round: about `round_seconds` of CPU
        started = time.process_time()
        for _ in range(calls):
            fn()
        spent = time.process_time() - started
        if spent >= round_seconds / 10 or calls >= 1_000_000:
            break
        calls *= 4
    calls = max(1, int(calls * round_seconds / max(spent, 1e-9)))
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


class _Quiet:
    """A logger that drops everything (stdout carries the JSON)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def per_exchange_handoff() -> type[Any]:
    """The shipped pipeline made to hand every result to the loop in a hop of its own."""
    from zdr.safety.pipeline import SafetyPipeline

    class PerExchangeHandoff(SafetyPipeline):
        def _write_all(self, outcomes: list[Any]) -> None:
            for outcome in outcomes:
                if self._write_slots.acquire(timeout=self._write_timeout):
                    self._hand_off([outcome])
            outcomes.clear()

    return PerExchangeHandoff


async def loop_cpu_per_exchange(pipeline_type: type[Any], jobs: int) -> float:
    """CPU microseconds the event loop's thread spends per exchange to take the results of
    `jobs` queued exchanges (NullClassifier in a worker thread, in-memory sink that sets an
    event at the last result: no polling on the loop)."""
    from safety_data import make_meta

    from zdr.inmemory import InMemorySafetySink
    from zdr.safety.classifier import NullClassifier

    class CountingSink(InMemorySafetySink):
        def __init__(self) -> None:
            super().__init__()
            self.done = asyncio.Event()

        async def record_classification(self, meta: Any, result: Any, flagged: Any) -> None:
            await super().record_classification(meta, result, flagged)
            if len(self.results) >= jobs:
                self.done.set()

    sink = CountingSink()
    pipeline = pipeline_type(NullClassifier(), sink, workers=1, queue_size=jobs,
                             logger=_Quiet())
    for index in range(jobs):
        pipeline.submit(make_meta(zdr=index % 2 == 0), "text", "")
    started = time.thread_time()
    await pipeline.start()
    await asyncio.wait_for(sink.done.wait(), 120)
    spent = time.thread_time() - started
    await pipeline.stop()
    return spent / jobs * 1e6


def handoff_costs(rounds: int, jobs: int = 20_000) -> dict[str, float]:
    """Loop CPU per exchange: shipped, and one hop per exchange (only a tree whose pipeline hands
    over batches can be made to hand over single results; for an older one it is n/a)."""
    from zdr.safety.pipeline import SafetyPipeline

    shipped = min(asyncio.run(loop_cpu_per_exchange(SafetyPipeline, jobs)) for _ in range(rounds))
    reference = float("nan")
    if hasattr(SafetyPipeline, "_hand_off"):
        reference = min(asyncio.run(loop_cpu_per_exchange(per_exchange_handoff(), jobs))
                        for _ in range(rounds))
    return {"reference": reference, "shipped": shipped}


def costs(rounds: int) -> dict[str, dict[str, float]]:
    from reference_scoring import ReferenceClassifier, ReferenceProfanity, reference_lexicon_scores
    from safety_data import labelled_rows

    from zdr.safety.default import DefaultClassifier
    from zdr.safety.lexicon import _NEEDLES, CUES, lexicon_scores
    from zdr.safety.profanity import ProfanityModel

    shipped, reference = DefaultClassifier(), ReferenceClassifier()
    name, version = shipped.name, shipped.version
    profanity, reference_profanity = ProfanityModel(), ReferenceProfanity()
    needles = sorted({needle for cues in CUES.values() for cue in cues
                      for group in cue.needles for needle in group})
    inputs = [row["input"] for row in labelled_rows()]
    lowered = SHORT_OUTPUT.lower()
    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any], int]] = {
        "DefaultClassifier.classify(short input, 196-char output)": (
            lambda: reference.classify(SHORT_INPUT, SHORT_OUTPUT, name, version),
            lambda: shipped.classify(SHORT_INPUT, SHORT_OUTPUT), 1),
        f"DefaultClassifier.classify(input, '') over the {len(inputs)} labelled inputs": (
            lambda: [reference.classify(text, "", name, version) for text in inputs],
            lambda: [shipped.classify(text, "") for text in inputs], len(inputs)),
        f"DefaultClassifier.classify(short input, {len(LONG_OUTPUT)}-char output)": (
            lambda: reference.classify(SHORT_INPUT, LONG_OUTPUT, name, version),
            lambda: shipped.classify(SHORT_INPUT, LONG_OUTPUT), 1),
        "lexicon_scores(short input)": (
            lambda: reference_lexicon_scores(SHORT_INPUT),
            lambda: lexicon_scores(SHORT_INPUT), 1),
        "lexicon_scores(196-char output)": (
            lambda: reference_lexicon_scores(SHORT_OUTPUT),
            lambda: lexicon_scores(SHORT_OUTPUT), 1),
        f"needles present in the 196-char output ({len(needles)} needles)": (
            lambda: {needle for needle in needles if needle in lowered},
            lambda: _NEEDLES.present(lowered), 1),
        "ProfanityModel.probability(short input)": (
            lambda: reference_profanity.probability(SHORT_INPUT),
            lambda: profanity.probability(SHORT_INPUT), 1),
        "ProfanityModel.probability(196-char output)": (
            lambda: reference_profanity.probability(SHORT_OUTPUT),
            lambda: profanity.probability(SHORT_OUTPUT), 1),
    }
    figures = {case: {"reference": cpu_per_call(slow, rounds) / per,
                      "shipped": cpu_per_call(fast, rounds) / per}
               for case, (slow, fast, per) in cases.items()}
    figures["SafetyPipeline: event-loop CPU per exchange to take its result"] = handoff_costs(
        min(rounds, 3))
    return figures


def _task_switches() -> int:
    """Context switches (voluntary + involuntary) of all this process's threads so far."""
    total = 0
    for status in Path("/proc/self/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:             # a thread that just ended
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's live child processes so far."""
    import multiprocessing
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


HANDOFF_PACES = {
    # name: (exchanges, exchanges per loop iteration, seconds between iterations)
    "low rate: 1 exchange per 2 ms": (1500, 1, 0.002),
    "high rate: 16 exchanges per 1 ms": (16_000, 16, 0.001),
}


async def handoff_run(exchanges: int, burst: int, pause: float, pipelined: bool
                      ) -> dict[str, float]:
    """`exchanges` submits on the loop, `burst` per iteration, `pause` seconds apart, through the
    gateway's pipeline (`pipeline_from_settings`: the default classifier in one child process,
    one worker thread, in-memory sink), until the last result is recorded. Without `pipelined`
    the same loop runs with no pipeline (its own CPU, subtracted). Returns this process's CPU
    (all threads, `time.process_time`), the loop thread's CPU, the child's CPU (/proc) and the
    context switches of this process's threads, each per exchange (µs; switches as counts)."""
    from safety_data import make_meta

    from zdr.inmemory import InMemorySafetySink
    from zdr.safety.pipeline import pipeline_from_settings
    from zdr.settings import Settings

    done = asyncio.Event()

    class CountingSink(InMemorySafetySink):
        async def record_classification(self, meta: Any, result: Any, flagged: Any) -> None:
            await super().record_classification(meta, result, flagged)
            if len(self.results) >= exchanges:
                done.set()

    sink = CountingSink()
    pipeline = None
    if pipelined:
        pipeline = pipeline_from_settings(Settings(classifier_workers=1, classifier_queue=20_000),
                                          sink, logger=_Quiet(), processes=True)
        await pipeline.start()
        for _ in range(20):         # warm up the child and the threads
            pipeline.submit(make_meta(zdr=True), SHORT_INPUT, SHORT_OUTPUT)
        while len(sink.results) < 20:
            await asyncio.sleep(0.01)
        sink.results.clear()
    metas = [make_meta(zdr=True) for _ in range(exchanges)]
    await asyncio.sleep(0.05)
    switches, child, loop_cpu = _task_switches(), _children_cpu(), time.thread_time()
    started, wall = time.process_time(), time.perf_counter()
    for first in range(0, exchanges, burst):
        if pipeline is not None:
            for meta in metas[first:first + burst]:
                pipeline.submit(meta, SHORT_INPUT, SHORT_OUTPUT)
        await asyncio.sleep(pause)
    if pipeline is not None:
        await asyncio.wait_for(done.wait(), 120)
    cpu = time.process_time() - started
    figures = {"cpu": cpu, "loop": time.thread_time() - loop_cpu,
               "child": _children_cpu() - child, "switches": float(_task_switches() - switches),
               "wall": time.perf_counter() - wall}
    if pipeline is not None:
        sampled = pipeline.metrics.value("zdr_classifier_sampled_out_total")
        await pipeline.stop()
        if sampled:
            raise RuntimeError(f"{sampled} exchanges sampled out: lower the pace")
    return {name: value / exchanges * (1 if name == "switches" else 1e6)
            for name, value in figures.items()}


def handoff_figures(rounds: int) -> dict[str, dict[str, float]]:
    """Per pace: the best of `rounds` of the pipeline's run, minus the best idle loop run."""
    figures = {}
    for pace, (exchanges, burst, pause) in HANDOFF_PACES.items():
        idle = [asyncio.run(handoff_run(exchanges, burst, pause, False)) for _ in range(rounds)]
        runs = [asyncio.run(handoff_run(exchanges, burst, pause, True)) for _ in range(rounds)]
        best = {name: min(run[name] for run in runs) for name in runs[0]}
        floor = {name: min(run[name] for run in idle) for name in idle[0]}
        figures[pace] = {"gateway_cpu": best["cpu"] - floor["cpu"],
                         "loop_cpu": best["loop"] - floor["loop"], "child_cpu": best["child"],
                         "switches": best["switches"] - floor["switches"],
                         "wall": best["wall"]}
    return figures


def handoff_table(src: Path, previous: Path, rounds: int) -> str:
    """Markdown: each tree measured in its own child process, alternating, `rounds` times; the
    best per figure."""
    import subprocess

    results: dict[str, list[dict[str, dict[str, float]]]] = {"previous": [], "now": []}
    for _ in range(rounds):
        for name, tree in (("previous", previous), ("now", src)):
            output = subprocess.run(
                [sys.executable, __file__, "--handoff", "--src", str(tree), "--rounds", "1"],
                check=True, capture_output=True, text=True).stdout
            results[name].append(json.loads(output))
    best = {name: {pace: {figure: min(run[pace][figure] for run in runs)
                          for figure in runs[0][pace]} for pace in runs[0]}
            for name, runs in results.items()}
    median = {name: {pace: {figure: statistics.median(run[pace][figure] for run in runs)
                            for figure in runs[0][pace]} for pace in runs[0]}
              for name, runs in results.items()}
    labels = {"gateway_cpu": "gateway process CPU per exchange, all threads (µs)",
              "loop_cpu": "of which the event loop's thread (µs)",
              "child_cpu": "classifier child process CPU per exchange (µs)",
              "switches": "context switches of the gateway's threads per exchange"}
    lines = [f"Best (lowest) of {rounds} rounds per tree, median in brackets; ratio of the "
             "best (median).", "",
             "| pace | figure | previous | now | previous / now |", "|---|---|---|---|---|"]

    def ratio(old: float, new: float) -> str:
        return f"{old / new:.2f}x" if new > 0 else "n/a"

    for pace in HANDOFF_PACES:
        for figure, label in labels.items():
            old, new = best["previous"][pace][figure], best["now"][pace][figure]
            old_m, new_m = median["previous"][pace][figure], median["now"][pace][figure]
            lines.append(f"| {pace} | {label} | {old:.1f} ({old_m:.1f}) | {new:.1f} ({new_m:.1f}) "
                         f"| {ratio(old, new)} ({ratio(old_m, new_m)}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the source tree holding zdr/ to measure")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--handoff", action="store_true",
                        help="measure the gateway side of the pipeline (see handoff_run)")
    parser.add_argument("--previous-src", type=Path,
                        help="with --handoff: compare with this tree, print a markdown table")
    args = parser.parse_args()
    if args.handoff and args.previous_src is not None:
        print(handoff_table(args.src, args.previous_src, args.rounds))
        return
    sys.path.insert(0, str(args.src.resolve()))
    sys.path.insert(0, str(ROOT / "tests" / "safety"))
    if args.handoff:
        print(json.dumps(handoff_figures(args.rounds)))
        return
    print(json.dumps(costs(args.rounds)))


if __name__ == "__main__":
    main()
