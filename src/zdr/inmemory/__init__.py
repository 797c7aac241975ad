"""In-memory twins of the ports (`zdr.ports`): what the gateway runs on before `zdr init`, and what
tests (ours and users') pass instead of the SQL store and the classifier.

    from zdr.inmemory import InMemoryDirectory, InMemorySink, RecordingSafetyQueue

| twin | of |
|---|---|
| `InMemoryDirectory` | `Directory` (key hash → principal) |
| `InMemorySink`, `InMemorySafetySink` | `ExchangeSink`, `SafetySink` |
| `InMemoryResourceOwners` | `ResourceOwners` (who owns an upstream file, batch, container) |
| `NullSafetyQueue`, `RecordingSafetyQueue` | `SafetyQueue` (drops, or keeps, submissions) |
| `FixedClock` | `Clock` (the real one: `zdr.clock.SystemClock`) |

Nothing here imports the gateway, the store or `zdr.wiring`.
"""

from zdr.inmemory.clock import FixedClock
from zdr.inmemory.directory import InMemoryDirectory
from zdr.inmemory.resources import InMemoryResourceOwners
from zdr.inmemory.safety import NullSafetyQueue, RecordingSafetyQueue
from zdr.inmemory.sinks import InMemorySafetySink, InMemorySink

__all__ = [
    "FixedClock",
    "InMemoryDirectory",
    "InMemoryResourceOwners",
    "InMemorySafetySink",
    "InMemorySink",
    "NullSafetyQueue",
    "RecordingSafetyQueue",
]
