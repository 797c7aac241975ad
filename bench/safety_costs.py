"""CPU time per call of the default classifier and its parts, for one source tree, as JSON.

    .venv/bin/python bench/safety_costs.py [--src DIR] [--rounds 5]

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

    from zdr.safety.classifier import NullClassifier
    from zdr.safety.testing import InMemorySafetySink

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the source tree holding zdr/ to measure")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    sys.path.insert(0, str(ROOT / "tests" / "safety"))
    print(json.dumps(costs(args.rounds)))


if __name__ == "__main__":
    main()
