"""Markdown for bench/compare.py: one table per scenario, the load generators' ceiling, and the
performance goals with the measured ratio beside each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
GATEWAYS = ("zdr-zdr", "zdr-standard")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _find(results: list[Row], target: str, workload: str, concurrency: int) -> Row | None:
    return next(
        (
            r
            for r in results
            if r["target"] == target
            and r["workload"] == workload
            and r["concurrency"] == concurrency
        ),
        None,
    )


def _diff(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def per_core(row: Row) -> float | None:
    """Requests per second one core could serve at the CPU this target spent per request: the
    throughput figure that other work on the machine does not disturb."""
    cpu = row.get("cpu_s_per_1k")
    return 1000 / cpu if cpu else None


def scenario_table(results: list[Row], workload: str, concurrency: int, targets: list[str]) -> str:
    best_direct = _find(results, "direct", workload, concurrency)
    stream = workload == "stream"
    head = ["target", "req/s", "x direct", "p50 ms", "p99 ms", "added p50", "added p99"]
    if stream:
        head += ["TTFB p50", "added TTFB p50", "TTFB p99"]
    head += ["peak RSS MB", "CPU s / 1k req", "req/s per core", "backlog drain s", "errors",
             "load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in targets:
        row = _find(results, name, workload, concurrency)
        if row is None:
            continue
        direct = row.get("baseline") or best_direct  # `direct` in the same round
        ratio = row["rps"] / direct["rps"] if direct and direct["rps"] else None
        cells = [name, _fmt(row["rps"], 0), _fmt(ratio), _fmt(row["p50_ms"]), _fmt(row["p99_ms"])]
        if name == "direct":
            cells += ["-", "-"]
        else:
            cells += [
                _fmt(_diff(row["p50_ms"], direct and direct["p50_ms"])),
                _fmt(_diff(row["p99_ms"], direct and direct["p99_ms"])),
            ]
        if stream:
            added = (
                None
                if name == "direct"
                else _diff(row.get("ttfb_p50_ms"), direct and direct.get("ttfb_p50_ms"))
            )
            cells += [_fmt(row.get("ttfb_p50_ms")), _fmt(added), _fmt(row.get("ttfb_p99_ms"))]
        cells += [
            _fmt(row["peak_rss_mb"], 0),
            _fmt(row["cpu_s_per_1k"]),
            _fmt(per_core(row), 0),
            _fmt(row.get("drain_s")) if row.get("drain_s") is not None else "-",
            str(row["errors"]),
            row["loadavg"].split()[0],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _check(
    label: str, goal: str, value: float | None, ok: Callable[[float], bool], shown: str
) -> list[str]:
    met = "-" if value is None else ("yes" if ok(value) else "**no**")
    return [label, goal, shown if value is not None else "not measured", met]


# Each org's floor against the bare pass-through (the ceiling of the gateway's own stack), in
# throughput and in CPU per request: a ZDR org's exchange writes metadata only, a standard org's
# also seals and commits its content before the last byte.
BARE_FLOORS = {"zdr-zdr": 0.70, "zdr-standard": 0.60}
# Stretch goals against the stand-in alone (the wire) at 16 connections.
DIRECT_STRETCH = {"small": 0.40, "stream": 0.35}
ADDED_P50_MS = {1: 0.5, 16: 2.0}  # per concurrency
ADDED_P99_MS_C16 = 8.0
WORKLOADS = ("small", "stream", "conversation")


def _at_least(floor: float) -> Callable[[float], bool]:
    return lambda v: v >= floor


def _at_most(limit: float) -> Callable[[float], bool]:
    return lambda v: v <= limit


def target_rows(results: list[Row]) -> list[list[str]]:
    """The performance goals, each measured for both zdr-gateway orgs."""
    rows: list[list[str]] = []

    def get(target: str, workload: str, c: int, key: str) -> float | None:
        row = _find(results, target, workload, c)
        return None if row is None else row.get(key)

    def base(target: str, workload: str, c: int, key: str) -> float | None:
        """`direct`'s figure from the round the target's kept row ran in."""
        row = _find(results, target, workload, c)
        if row is not None and row.get("baseline"):
            return row["baseline"].get(key)
        return get("direct", workload, c, key)

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    def percent(r: float | None) -> str:
        return f"{_fmt(r and r * 100, 0)} %"

    for gw in GATEWAYS:
        if not _find(results, gw, "small", 16) and not _find(results, gw, "stream", 16):
            continue
        floor = BARE_FLOORS[gw]
        goal = f"≥ {floor * 100:.0f} %"
        for workload in WORKLOADS:
            r = ratio(get(gw, workload, 16, "rps"), get("bare", workload, 16, "rps"))
            rows.append(
                _check(
                    f"{gw}: throughput vs bare pass-through, {workload} c=16",
                    goal,
                    r,
                    _at_least(floor),
                    percent(r),
                )
            )
            # CPU per request (what one core can serve): other work on a shared machine
            # disturbs it far less than throughput.
            r = ratio(
                get("bare", workload, 16, "cpu_s_per_1k"), get(gw, workload, 16, "cpu_s_per_1k")
            )
            rows.append(
                _check(
                    f"{gw}: req/s per core (CPU) vs bare, {workload} c=16",
                    goal,
                    r,
                    _at_least(floor),
                    percent(r),
                )
            )
            # The same floor against the pass-through on the gateway's own stack (its server
            # protocol and upstream pool), when that target ran.
            r = ratio(get(gw, workload, 16, "rps"), get("bare-own", workload, 16, "rps"))
            if r is not None:
                rows.append(_check(f"{gw}: throughput vs bare-own, {workload} c=16", goal, r,
                                   _at_least(floor), percent(r)))
            r = ratio(get("bare-own", workload, 16, "cpu_s_per_1k"),
                      get(gw, workload, 16, "cpu_s_per_1k"))
            if r is not None:
                rows.append(_check(f"{gw}: req/s per core (CPU) vs bare-own, {workload} c=16",
                                   goal, r, _at_least(floor), percent(r)))
        for workload, stretch in DIRECT_STRETCH.items():
            r = ratio(get(gw, workload, 16, "rps"), base(gw, workload, 16, "rps"))
            rows.append(
                _check(
                    f"{gw}: throughput vs direct, {workload} c=16",
                    f"≥ {stretch * 100:.0f} % (stretch)",
                    r,
                    _at_least(stretch),
                    percent(r),
                )
            )
        for c, limit in ADDED_P50_MS.items():
            for workload in WORKLOADS:
                p50 = _diff(get(gw, workload, c, "p50_ms"), base(gw, workload, c, "p50_ms"))
                rows.append(
                    _check(
                        f"{gw}: added p50, {workload} c={c}",
                        f"≤ {limit:g} ms",
                        p50,
                        _at_most(limit),
                        f"{_fmt(p50)} ms",
                    )
                )
            added = _diff(get(gw, "stream", c, "ttfb_p50_ms"), base(gw, "stream", c, "ttfb_p50_ms"))
            rows.append(
                _check(
                    f"{gw}: stream TTFB added (p50), c={c}",
                    f"≤ {limit:g} ms",
                    added,
                    _at_most(limit),
                    f"{_fmt(added)} ms",
                )
            )
        for workload in WORKLOADS:
            p99 = _diff(get(gw, workload, 16, "p99_ms"), base(gw, workload, 16, "p99_ms"))
            rows.append(
                _check(
                    f"{gw}: added p99, {workload} c=16",
                    f"≤ {ADDED_P99_MS_C16:g} ms",
                    p99,
                    lambda v: v <= ADDED_P99_MS_C16,
                    f"{_fmt(p99)} ms",
                )
            )
        for peer in ("litellm-off", "litellm-on"):
            for workload in ("small", "stream"):
                r = ratio(get(gw, workload, 16, "rps"), get(peer, workload, 16, "rps"))
                rows.append(
                    _check(
                        f"{gw}: throughput vs {peer}, {workload} c=16",
                        "≥ 20x",
                        r,
                        lambda v: v >= 20,
                        f"{_fmt(r, 1)}x",
                    )
                )
                own = _diff(get(gw, workload, 16, "p50_ms"), base(gw, workload, 16, "p50_ms"))
                theirs = _diff(
                    get(peer, workload, 16, "p50_ms"), base(peer, workload, 16, "p50_ms")
                )
                r = ratio(own, theirs)
                rows.append(
                    _check(
                        f"{gw}: added p50 vs {peer}'s, {workload} c=16",
                        "≤ 1/10",
                        r,
                        lambda v: v <= 0.1,
                        f"{_fmt(r and r * 100, 1)} %",
                    )
                )
        for workload in WORKLOADS:
            r = ratio(
                get("litellm-off", workload, 16, "cpu_s_per_1k"),
                get(gw, workload, 16, "cpu_s_per_1k"),
            )
            rows.append(
                _check(
                    f"{gw}: req/s per core (CPU) vs litellm-off, {workload} c=16",
                    "≥ 20x",
                    r,
                    lambda v: v >= 20,
                    f"{_fmt(r, 1)}x",
                )
            )
    # A run of seconds cannot show memory growth: bench/soak.py measures it.
    rows.append(
        _check(
            "RSS per worker over a 10-minute run (bench/soak.py)",
            "flat",
            None,
            lambda v: True,
            "",
        )
    )
    return rows


def render_targets(results: list[Row]) -> str:
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in target_rows(results)]
    return "\n".join(lines)


def render(
    meta: dict[str, Any],
    results: list[Row],
    ceiling: list[Row],
    targets: list[str],
    notes: list[str],
) -> str:
    m = meta["machine"]
    out = [
        "# zdr-gateway vs. LiteLLM's proxy vs. the wire",
        "",
        f"Generated by `{meta['command']}` — {meta['started']} to {meta['finished']} (UTC).",
        "",
        f"- machine: {m['cpu']}, {m['memory']}, {m['os']}, Python {m['python']}",
        f"- versions: {m['versions']}",
        f"- load average (1/5/15 min) before: {meta['loadavg_before']},"
        f" after: {meta['loadavg_after']}"
        " (other work shares the 2 cores; each row shows the 1-minute figure at its start)",
        f"- each run: {meta['requests']} requests or {meta['time_cap']:.0f} s, whichever first;"
        f" {meta['rounds']} round(s) over all runs, all targets back to back per scenario, the"
        " round with the best throughput kept per target and scenario;"
        f" each after a warm-up; latency, throughput by {meta['tool']}; stream TTFB by loadgen.py;"
        f" gateways with {meta['workers']} worker process(es); everything on loopback",
        "- `added` = this target minus `direct` in the same run; RSS and CPU are of the target's"
        " whole process tree (for `direct`: the stand-in's)",
        "",
    ]
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    out += ["## Performance goals", "", render_targets(results), ""]
    for workload, title in (
        ("small", "Small messages, not streamed"),
        ("stream", "Streamed messages (20 SSE chunks)"),
        ("conversation", "200 KB conversation, not streamed"),
    ):
        for c in (1, 16, 64):
            if any(r["workload"] == workload and r["concurrency"] == c for r in results):
                out += [
                    f"## {title}, concurrency {c}",
                    "",
                    scenario_table(results, workload, c, targets),
                    "",
                ]
    if ceiling:
        out += [
            "## The load generators alone against the stand-in (their ceiling)",
            "",
            "| tool | workload | concurrency | req/s | p50 ms |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {r['tool']} | {r['workload']} | {r['concurrency']} | {_fmt(r['rps'], 0)} |"
            f" {_fmt(r['p50_ms'])} |"
            for r in ceiling
        ]
        out += [""]
    return "\n".join(out)
