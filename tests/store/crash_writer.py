"""Run as a subprocess by test_crash.py: writes retained exchanges through the sink, printing
each exchange id once `record_retained` returned (acknowledged), until it is killed."""

from __future__ import annotations

import asyncio
import sys
import uuid

from store_data import content, decision, meta

from zdr.store.crypto import Keyring
from zdr.store.db import engine_for
from zdr.store.exchanges import SqlExchangeSink

MASTER = bytes(range(32))


async def main(url: str, org_id: str) -> None:
    engine = engine_for(url)
    sink = SqlExchangeSink(engine, Keyring(engine, MASTER))
    dec = decision()

    async def worker() -> None:
        for _ in range(100_000):
            m = meta(org_id, dec, exchange_id=f"crash-{uuid.uuid4().hex}")
            await sink.record_retained(m, content(m.exchange_id))
            sys.stdout.write(m.exchange_id + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(worker() for _ in range(32)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
