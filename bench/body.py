"""Reading a request body once (zdr.gateway.body): what refusing repeated JSON keys costs.

    .venv/bin/python bench/body.py [--rounds 5]

Bodies (bench/policy.py's): a small chat message, a request with tools, a 200 KB multi-turn
conversation with tool use and results; each as the Python SDK sends it (`json.dumps`). Every
figure is printed next to the baseline measured in the same run: `orjson.loads` of the same
bytes, which reads a repeated key as its last copy and so cannot refuse it. The alternative
measured too: `json.loads` with an `object_pairs_hook` that refuses repeats.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from policy import conversation, small, with_tools
from zdr.gateway.body import read_json_object

BODIES = {
    "small": json.dumps(small()).encode(),
    "tools": json.dumps(with_tools()).encode(),
    "conversation_200k": json.dumps(conversation(200_000, 2)).encode(),
}


def _refusing_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("repeated key")
    return value


READERS: dict[str, Callable[[bytes], object]] = {
    "orjson.loads (baseline, no check)": orjson.loads,
    "read_json_object (jiter, refuses repeats)": read_json_object,
    "json.loads + object_pairs_hook": lambda b: json.loads(b, object_pairs_hook=_refusing_hook),
}


def per_call_us(fn: Callable[[bytes], object], body: bytes, rounds: int) -> float:
    """The best of `rounds` batches (the least disturbed on a shared machine), µs per call."""
    per = max(1, 2_000_000 // len(body))
    best = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(per):
            fn(body)
        best.append((time.perf_counter_ns() - start) / 1000 / per)
    return min(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for name, body in BODIES.items():
        figures = {label: per_call_us(fn, body, args.rounds) for label, fn in READERS.items()}
        base = next(iter(figures.values()))
        print(f"{name} ({len(body):,} bytes)")
        for label, us in figures.items():
            print(f"  {label:44s} {us:9.1f} µs  {us / base:5.2f}x")
    print(f"(best of {args.rounds} rounds per figure)")


if __name__ == "__main__":
    main()
