"""A small stacked bar chart, laid out in Python and drawn as SVG by the template (no script, no
external asset: the console's content security policy allows neither)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT, PAD = 560, 160, 24
COLORS = ("c0", "c1", "c2", "c3", "c4", "c5")     # CSS classes, in series order


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str                 # what a reader sees on hover: "2026-11-20, zero: 12"


@dataclass(frozen=True, slots=True)
class Chart:
    bars: tuple[Bar, ...]
    legend: tuple[tuple[str, str], ...]    # (label, css class)
    first_day: str
    last_day: str
    peak: int
    width: int = WIDTH
    height: int = HEIGHT


def stacked_bars(days: list[date], counts: dict[tuple[date, str], int]) -> Chart:
    """One bar per day, stacked by label (labels in sorted order, one colour each)."""
    labels = sorted({label for _day, label in counts})
    peak = max((sum(counts.get((d, label), 0) for label in labels) for d in days), default=0)
    slot = (WIDTH - 2 * PAD) / max(len(days), 1)
    scale = (HEIGHT - 2 * PAD) / peak if peak else 0.0
    bars: list[Bar] = []
    for i, day in enumerate(days):
        base = float(HEIGHT - PAD)
        for j, label in enumerate(labels):
            count = counts.get((day, label), 0)
            if not count:
                continue
            height = count * scale
            base -= height
            bars.append(Bar(round(PAD + i * slot + slot * 0.15, 1), round(base, 1),
                            round(slot * 0.7, 1), round(height, 1), COLORS[j % len(COLORS)],
                            f"{day.isoformat()}, {label}: {count}"))
    legend = tuple((label, COLORS[j % len(COLORS)]) for j, label in enumerate(labels))
    return Chart(tuple(bars), legend, days[0].isoformat() if days else "",
                 days[-1].isoformat() if days else "", peak)
