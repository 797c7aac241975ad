"""Rows written the way the store writes them, for tests that build a store to judge.

    from sink_writes import write_exchange

`write_exchange` commits one exchange's rows through `SqlExchangeSink`'s own transaction (the
writer thread's, called directly): the exchange row and the feature artifacts its decision
names, and, when given, its sealed content, its classifier result (if the decision keeps one)
and its sealed flagged content (which sets the misuse exception), all stamped `written`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from zdr.ports import ClassificationRecord, ExchangeMetadata
from zdr.store.crypto import Keyring, Sealed
from zdr.store.exchanges import SqlExchangeSink, _Job


def write_exchange(
    engine: Engine, keyring: Keyring, meta: ExchangeMetadata, written: datetime, *,
    content: Sealed | None = None, classification: ClassificationRecord | None = None,
    flagged: Sealed | None = None,
) -> None:
    sink = SqlExchangeSink(engine, keyring, clock=lambda: written)
    try:
        sink._commit([_Job(meta, content=content, classification=classification,
                           flagged=flagged)])
    finally:
        sink.close()
