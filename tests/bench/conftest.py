"""The benchmark scripts import each other as top-level modules (run as `python bench/X.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # last: never shadows a module of the project or its tests
