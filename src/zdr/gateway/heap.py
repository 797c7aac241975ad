"""The garbage collector, tuned for a long-running worker process once it has started.

By start-up a worker holds ~140,000 long-lived objects (catalog, policy caches, SQLAlchemy,
the classifier's hand-off, imported modules). Left as they are, every full collection walks all
of them: measured here at 70 to 200 ms per collection, about ten times in ten seconds under load,
each one a stall of every request in flight (the p99 of the gateway). `settle` moves what start-up
built into the permanent generation (`gc.freeze`), so collections walk only what requests create,
and lets the youngest generation grow before it is collected, since most objects of a request are
gone by the time it ends.
"""

from __future__ import annotations

import gc

# Objects allocated (minus freed) before a young collection; CPython's default is 700.
YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Collect once, freeze the survivors, raise the young threshold. Once per process."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


async def settle_after_startup() -> None:
    """`settle` as a start-up hook: the last one, when everything long-lived exists."""
    settle()
