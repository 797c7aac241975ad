"""CPU time and memory of a process and all its descendants, read from /proc (Linux only).

`TreeMonitor` samples the tree's resident set every `interval` seconds in a thread and keeps the
peak of the sum (a gateway with workers is several processes: their sum is what the machine
pays). CPU seconds are utime + stime of every live process in the tree, plus what its exited and
reaped children left in cutime + cstime.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ")" splits cleanly.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """`root` and every process below it, by parent id."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    total = 0
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields:  # fields[11..14] are utime, stime, cutime, cstime (stat fields 14-17)
            total += sum(int(v) for v in fields[11:15])
    return total / TICKS


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class TreeMonitor:
    """Peak RSS of a process tree while a run lasts; CPU seconds used between start and stop."""

    def __init__(self, roots: list[int], interval: float = 0.1) -> None:
        self.roots = roots
        self.interval = interval
        self.peak_rss = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._cpu_start = 0.0

    def _pids(self) -> list[int]:
        return [pid for root in self.roots for pid in descendants(root)]

    def _sample(self) -> None:
        count = 0
        pids = self._pids()
        while not self._stop.is_set():
            if count % 10 == 9:  # the tree is fixed once a server is up; look again now and then
                pids = self._pids()
            count += 1
            self.peak_rss = max(self.peak_rss, rss_bytes(pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMonitor:
        self._cpu_start = sum(cpu_seconds(r) for r in self.roots)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, rss_bytes(self._pids()))
        self.cpu = sum(cpu_seconds(r) for r in self.roots) - self._cpu_start


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
