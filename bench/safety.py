"""Safety classifier benchmark: classifications per second per core, and measured quality.

    .venv/bin/python bench/safety.py [--seconds 2] [--write bench/results/safety.md]
        [--previous-src DIR]

Pinned to one core. Every figure is printed next to a baseline measured in the same run: the bare
`alt-profanity-check` model called the way its package documents (`predict_prob([text])`). It then
times each component of the default classifier, the whole classifier, and the pipeline end to end
(queue → worker thread → in-memory sink), and evaluates quality on the labelled set that the tests
ship. If `wordllama` is installed it also measures the embedding-similarity alternative (not
shipped: see src/zdr/safety/README.md).

CPU per call (bench/safety_costs.py, in child processes): the default classifier and its parts
against the straightforward reference implementation whose scores they must equal
(tests/safety/reference_scoring.py), and, with `--previous-src`, against an older tree's code
measured in the same run (rounds alternate between the trees). CPU per exchange on the event
loop for the pipeline's result hand-off: one hop per batch (shipped) against one hop per exchange.

The gateway's throughput with classification on vs. off: `gateway_on_off_ratio(load)` below,
driven by bench/safety_gateway.py (the gateway as `zdr serve` wires it, over loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "safety"))

from safety_data import labelled_rows, make_meta  # noqa: E402

from zdr.inmemory import InMemorySafetySink  # noqa: E402
from zdr.safety.classifier import NullClassifier  # noqa: E402
from zdr.safety.default import DefaultClassifier  # noqa: E402
from zdr.safety.evaluation import evaluate, markdown_table  # noqa: E402
from zdr.safety.lexicon import CATEGORIES, lexicon_scores  # noqa: E402
from zdr.safety.pipeline import SafetyPipeline  # noqa: E402
from zdr.safety.profanity import ProfanityModel  # noqa: E402

GATEWAY_SECTION = "## Gateway throughput with classification on vs. off"
LONG_OUTPUT = ("The deployment failed because the worker process was killed by the OOM killer; "
               "raise the memory limit, then restart the job and watch the logs. ") * 40


def rate(fn: Callable[[str], Any], texts: list[str], seconds: float) -> float:
    """Calls per second of `fn` over `texts`, cycling, for about `seconds`."""
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for text in texts:
            fn(text)
        calls += len(texts)
    return calls / (time.perf_counter() - started)


async def pipeline_rate(classifier: Any, texts: list[str], jobs: int) -> float:
    """Exchanges per second through SafetyPipeline (1 worker) into an in-memory sink."""
    sink = InMemorySafetySink()
    pipeline = SafetyPipeline(classifier, sink, workers=1, queue_size=jobs)
    metas = [make_meta(zdr=index % 2 == 0) for index in range(jobs)]
    await pipeline.start()
    started = time.perf_counter()
    for index, meta in enumerate(metas):
        pipeline.submit(meta, texts[index % len(texts)], "")
    for _ in range(60_000):
        if len(sink.results) >= jobs:
            break
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    await pipeline.stop()
    assert len(sink.results) == jobs and not any(r.sampled_out for r in sink.results.values())
    return jobs / elapsed


def call_costs(src: Path, previous: Path | None, runs: int = 2
               ) -> tuple[dict[str, dict[str, float]], dict[str, float] | None]:
    """bench/safety_costs.py for this tree (and `previous`), alternating, best per case."""
    def run(tree: Path) -> dict[str, dict[str, float]]:
        out = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "safety_costs.py"), "--src", str(tree)],
            check=True, capture_output=True, text=True).stdout
        figures: dict[str, dict[str, float]] = json.loads(out.strip().splitlines()[-1])
        return figures

    current: dict[str, dict[str, float]] = {}
    older: dict[str, float] | None = None if previous is None else {}
    for _ in range(runs):
        for case, values in run(src).items():
            best = current.setdefault(case, dict(values))
            for key, value in values.items():
                best[key] = min(best[key], value)
        if previous is not None and older is not None:
            for case, values in run(previous).items():
                older[case] = min(older.get(case, float("inf")), values["shipped"])
    return current, older


async def loop_lag(pipeline: SafetyPipeline | None, texts: list[str], seconds: float,
                   per_second: int) -> tuple[float, float]:
    """Event-loop lag (p50, p99 ms) of a 1 ms timer while `per_second` exchanges are submitted:
    what a classifier in the gateway's process costs the requests it serves."""
    lags: list[float] = []
    loop = asyncio.get_running_loop()

    async def submit() -> None:
        index = 0
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if pipeline is not None:
                for _ in range(per_second // 100):
                    pipeline.submit(make_meta(zdr=False), texts[index % len(texts)], LONG_OUTPUT)
                    index += 1
            await asyncio.sleep(0.01)

    async def tick() -> None:
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            started = loop.time()
            await asyncio.sleep(0.001)
            lags.append((loop.time() - started - 0.001) * 1000)

    await asyncio.gather(submit(), tick())
    lags.sort()
    return lags[len(lags) // 2], lags[int(len(lags) * 0.99)]


async def lag_figures(texts: list[str], seconds: float) -> list[tuple[str, float, float]]:
    from zdr.safety.processes import ProcessClassifier

    rows = [("no pipeline", *await loop_lag(None, texts, seconds, 200))]
    for name, classifier in (
        ("baseline: NullClassifier in a thread", NullClassifier()),
        ("DefaultClassifier in a thread", DefaultClassifier()),
        ("DefaultClassifier in a child process",
         ProcessClassifier("zdr.safety.default:DefaultClassifier")),
    ):
        pipeline = SafetyPipeline(classifier, InMemorySafetySink(), workers=1, queue_size=1000)
        await pipeline.start()
        rows.append((f"SafetyPipeline, {name}", *await loop_lag(pipeline, texts, seconds, 200)))
        await pipeline.stop()
    return rows


def wordllama_alternative(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The embedding-similarity detector measured against the lexicon (not shipped)."""
    try:
        import tomllib

        import wordllama
        from wordllama import WordLlama
    except ImportError:
        return None
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    exemplars = tomllib.loads((ROOT / "bench" / "data" / "safety_exemplars.toml").read_text())
    banks = {name: model.embed(v["texts"], norm=True) for name, v in exemplars.items()}
    categories = [name for name in banks if name != "benign"]

    def counts(threshold: float, chosen: list[dict[str, Any]]) -> dict[str, Any]:
        true_pos = false_pos = false_neg = 0
        for row in chosen:
            vector = model.embed([row["input"] + " " + row["output"]], norm=True)[0]
            benign = float((banks["benign"] @ vector).max())
            sims = {name: float((banks[name] @ vector).max()) for name in categories}
            top = max(sims, key=sims.__getitem__)
            found = {top} if sims[top] >= threshold and sims[top] - benign >= 0.05 else set()
            gold = set(row["categories"])
            true_pos += len(found & gold)
            false_pos += len(found - gold)
            false_neg += len(gold - found)
        return {"threshold": threshold, "tp": true_pos, "fp": false_pos, "fn": false_neg}

    tuning = [row for row in rows if row["split"].startswith("tuning")]
    best = max((counts(t, tuning) for t in (0.35, 0.4, 0.45, 0.5)),
               key=lambda c: c["tp"] - 2 * c["fp"])
    best["holdout"] = counts(best["threshold"],
                             [r for r in rows if r["split"].startswith("holdout")])
    texts = [row["input"] for row in rows]
    best["per_second"] = rate(lambda text: model.embed([text], norm=True), texts, 1.0)
    return best


def gateway_on_off_ratio(load: Callable[[bool], float], *, rounds: int = 2) -> dict[str, Any]:
    """Gateway throughput with classification on vs. off, in the same run (goal ≥ 0.8).

    `load(classify)` builds the gateway as `zdr serve` wires it, with the safety pipeline
    (`True`) or without (`False`), drives its load and returns requests per second (see
    bench/safety_gateway.py). Rounds alternate off/on so that drift in the machine's load hits
    both; the medians are compared."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        off.append(load(False))
        on.append(load(True))
    return {"off_rps": statistics.median(off), "on_rps": statistics.median(on),
            "ratio": statistics.median(on) / statistics.median(off), "off_runs": off,
            "on_runs": on}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--write", type=Path, help="write the markdown report here")
    parser.add_argument("--previous-src", type=Path,
                        help="an older tree's src/ (holding zdr/) to compare CPU per call with")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    from profanity_check import predict_prob

    rows = labelled_rows()
    texts = [row["input"] for row in rows]
    profanity = ProfanityModel()
    default = DefaultClassifier()
    null = NullClassifier()
    seconds = args.seconds

    print(f"one core, {len(texts)} labelled texts (mean {sum(map(len, texts)) / len(texts):.0f} "
          f"chars), {seconds:.1f} s per measurement")
    baseline = rate(lambda text: predict_prob([text]), texts, seconds)
    figures: list[tuple[str, float]] = [
        ("baseline: profanity_check.predict_prob([text]) (the package's own call)", baseline),
        ("ProfanityModel.probability (same model, pure Python)",
         rate(profanity.probability, texts, seconds)),
        ("lexicon_scores (Usage Policy cues)", rate(lexicon_scores, texts, seconds)),
        ("DefaultClassifier.classify(input, '')",
         rate(lambda text: default.classify(text, ""), texts, seconds)),
        (f"DefaultClassifier.classify(input, {len(LONG_OUTPUT)}-char output)",
         rate(lambda text: default.classify(text, LONG_OUTPUT), texts, seconds)),
        ("NullClassifier.classify", rate(lambda text: null.classify(text, ""), texts, seconds)),
        ("DefaultClassifier.classify(100,000-char input, '') (scores the last 8,000)",
         rate(lambda text: default.classify(text * 1700, ""), texts[:5], seconds)),
        ("SafetyPipeline end to end (1 worker, DefaultClassifier, in-memory sink)",
         asyncio.run(pipeline_rate(default, texts, 20_000))),
    ]
    lines = []
    for name, value in figures:
        line = f"| {name} | {value:,.0f} | {value / baseline:.1f}x |"
        lines.append(line)
        print(f"{value:>12,.0f}/s  {value / baseline:6.1f}x baseline  {name}")

    costs, previous = call_costs(ROOT / "src", args.previous_src)
    cost_lines = []
    print("\nCPU per call (µs, best of rounds):  reference | previous | shipped")
    for case, values in costs.items():
        reference, shipped = values["reference"], values["shipped"]
        older = "" if previous is None else f"{previous[case]:,.1f}"
        versus = "" if previous is None else f"{previous[case] / shipped:.1f}x"
        cost_lines.append(f"| {case} | {reference:,.1f} | {older} | {shipped:,.1f} | "
                          f"{reference / shipped:.1f}x | {versus} |")
        print(f"  {reference:10,.1f} | {older:>10} | {shipped:10,.1f}  {case}")
    cost_lines = [line.replace("| nan |", "| n/a |").replace("| nanx |", "| n/a |")
                  for line in cost_lines]

    if hasattr(os, "sched_setaffinity"):   # the child process may use the other core
        os.sched_setaffinity(0, os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)))
    lag_rows = asyncio.run(lag_figures(texts, seconds))
    lag_lines = [f"| {name} | {p50:.2f} | {p99:.2f} |" for name, p50, p99 in lag_rows]
    print("\nevent-loop lag of a 1 ms timer, 200 exchanges/s submitted with a "
          f"{len(LONG_OUTPUT)}-char output:")
    for name, p50, p99 in lag_rows:
        print(f"  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {name}")

    splits = {"tuning": ("tuning1", "tuning2"),
              "holdout": ("holdout1", "holdout2", "holdout3")}
    quality = {}
    for title, names in splits.items():
        chosen = [row for row in rows if row["split"] in names]
        quality[title] = markdown_table(evaluate(default, chosen, CATEGORIES))
        print(f"\nquality, {title}:\n{quality[title]}")
    alternative = wordllama_alternative(rows)
    if alternative is not None:
        print(f"\nwordllama exemplar similarity (best setting): {json.dumps(alternative)}")

    if args.write:
        text = report(lines, lag_lines, quality, alternative, default.version,
                      cost_lines, args.previous_src)
        previous = args.write.read_text("utf-8") if args.write.exists() else ""
        if GATEWAY_SECTION in previous:     # measured by bench/safety_gateway.py: keep it
            text = text[:text.index(GATEWAY_SECTION)] + previous[previous.index(GATEWAY_SECTION):]
        args.write.write_text(text, "utf-8")
        print(f"\nwrote {args.write}")


def report(lines: list[str], lag_lines: list[str], quality: dict[str, str],
           alternative: dict[str, Any] | None, version: str, cost_lines: list[str],
           previous: Path | None) -> str:
    alt = ("not measured (wordllama not installed)" if alternative is None else
           f"best setting (similarity ≥ {alternative['threshold']}, ≥ 0.05 above the nearest "
           f"benign anchor, chosen on the tuning splits): there {alternative['tp']} category "
           f"labels right, {alternative['fp']} wrong, {alternative['fn']} missed; on the "
           f"holdout {alternative['holdout']['tp']} right, {alternative['holdout']['fp']} wrong, "
           f"{alternative['holdout']['fn']} missed; {alternative['per_second']:,.0f} texts/s")
    return f"""# Safety classifier benchmark

Command: `.venv/bin/python bench/safety.py --write bench/results/safety.md{
    "" if previous is None else " --previous-src " + str(previous)}`
Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, pinned to one core
of this 2-core machine. Classifier version `{version}`. Load average when the report was
written: {" / ".join(f"{x:.1f}" for x in os.getloadavg())} (1 / 5 / 15 min) — other work shares
these cores, so treat the absolute figures as a floor and the ratios as the signal.

## Classifications per second per core

Baseline (same run): the bare `alt-profanity-check` model through its package API.

| what | per second | vs. baseline |
|---|---|---|
{chr(10).join(lines)}

The package's `predict_prob` spends almost all of its ~4 ms in scikit-learn's per-call input
validation; `ProfanityModel` computes the same probability (test: equal to 1e-9) from the same
fitted parameters. The whole default classifier (both detectors, input and output scored
separately) costs a few tens of microseconds per short exchange (next section); long text costs
roughly 0.1 ms per 1,000 characters (mostly the cue patterns its literals trigger), capped by
scoring at most 8,000 characters per side.

## CPU per call

CPU microseconds per call (`time.process_time`, best of 5 rounds, bench/safety_costs.py in a child
process per tree; the short exchange is "Say hello in one short sentence, please." and
`"Hello! " * 28`). *Reference*: the straightforward implementation in
tests/safety/reference_scoring.py (every cue's pattern searched directly, the profanity model term
by term and fold by fold, each needle looked up with `in`) — the shipped code's scores equal its
scores exactly (tests/safety/test_fast_scoring.py, over the labelled set and generated text).
*Previous*: {"not measured (no --previous-src)" if previous is None else
             "the code in " + str(previous) + ", measured in the same run (rounds alternate)"}.
An older commit's tree for `--previous-src`: `git archive <commit> src/zdr | tar -x -C DIR`,
then `--previous-src DIR/src`.

| call | reference (µs) | previous (µs) | shipped (µs) | vs. reference | vs. previous |
|---|---|---|---|---|---|
{chr(10).join(cost_lines)}

What makes the difference: needles found by an Aho-Corasick automaton (`pyahocorasick`) instead
of a regular-expression trie; cues indexed by the literals of their most selective set, so only
the cues a text's literals trigger are looked at (benign text: almost none) and categories with
no match cost nothing; ASCII text tokenized for the profanity model with `bytes.translate` +
`split` and the five folds' dot products unrolled (the same floating-point operations in the same
order); the "addressed to someone" test on ASCII text as a lookup of the words the profanity
model split the text into (the pattern only when "he's" or "they're" occurs); only non-zero
scores rounded. Long text is still dominated by the cue patterns that
its literals do trigger (each a regular-expression search over up to 8,000 characters).

The last row is the pipeline's hand-off of results to the event loop (the gateway's scarce
resource): CPU microseconds of the loop's thread per classified exchange, 20,000 queued exchanges,
NullClassifier in one worker thread, in-memory sink. There the reference is the shipped pipeline
made to hand each result over in a hop of its own (one `run_coroutine_threadsafe` per exchange;
the previous code also wrapped each write in its own `wait_for`); the shipped one hands over one
hop per classified batch (up to 64), whose sink calls run together under one timeout.

## What a classifier in the gateway's process costs the event loop

Lag of a 1 ms asyncio timer (the event loop's responsiveness, i.e. what a request being served
waits) while 200 exchanges per second with a {len(LONG_OUTPUT)}-character output are submitted
(both cores available here):

| pipeline | p50 lag (ms) | p99 lag (ms) |
|---|---|---|
{chr(10).join(lag_lines)}

In threads the classifier shares the interpreter lock with the event loop; in a child process
(`ProcessClassifier`, what `pipeline_from_settings(..., processes=True)` builds for the gateway)
it does not.

## Quality on the labelled set (tests/safety/data/labelled.jsonl)

Threshold 0.8 on every category (the default). `tuning1` and `tuning2` were used to write the
lexicon; `holdout1`-`holdout3` were written one after another, each before the lexicon was last
changed for recall, and never used to tune it (one precision fix, dropping "roast" from the
insult cue after a benign `holdout2` text tripped it, is the only change they caused). The
honest figure for unseen text is the holdout one: the lexicon is precise (no benign text flagged
in any split, including hard negatives such as "kill a process", "shoot a portrait", "how does
ransomware work", a parent's or a counsellor's question about self-harm) but it only recognises
phrasings close to its cues. Broad "topic + request" cues written from holdout1-holdout2 misses
(e.g. explosive/toxin words with "how do I") lifted those splits to 0.9 but caught none of the
21 misses in holdout3, so they were dropped (they also doubled the cost on long text).

### Tuning splits

{quality["tuning"]}

### Holdouts (holdout1-holdout3)

{quality["holdout"]}

## Alternatives measured and not shipped

- wordllama 0.4 static embeddings, nearest exemplar per category against benign anchors
  (bench/data/safety_exemplars.toml): {alt}. Lower recall and lower precision than the
  lexicon, so it is not part of the default.
- hatesonar (hate/offensive ONNX model) and an all-MiniLM-L6-v2 head: not measured here; the
  first overlaps the profanity model's scope (offensive language), the second needs PyTorch
  (~11 ms per text, docs/DESIGN.md §7), which is too heavy to run on every exchange by default.
  For broader coverage use `zdr.safety.http:HttpModerationClassifier` (Llama Guard).

## Gateway throughput with classification on vs. off

Measured by `bench/safety_gateway.py --write bench/results/safety.md`, which replaces this
section (and is kept when this script rewrites the rest).
"""


if __name__ == "__main__":
    main()   # the guard matters: ProcessClassifier spawns children that re-import this file
