"""The client channel's disconnect watch: started after its delay through one shared timer,
never for an exchange that is already over, and cancelling the exchange when the client hangs up."""

from __future__ import annotations

import asyncio
from typing import Any

from zdr.gateway.client import ClientChannel, WatchStarts

DELAY = 0.02


class Client:
    """An ASGI client whose `receive` blocks until it hangs up (`hang_up`)."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def hang_up(self) -> None:
        self.gone.set()


async def test_an_exchange_over_before_the_delay_never_starts_a_watch() -> None:
    starts = WatchStarts(DELAY)
    client = Client()
    channel = ClientChannel(client.receive, client.send)
    channel.watch(DELAY, starts)
    await channel.send({"type": "http.response.start", "status": 200, "headers": []})
    await channel.send({"type": "http.response.body", "body": b"{}", "more_body": False})
    channel.stop()
    await asyncio.sleep(DELAY * 3)
    assert client.received == 0     # no watch task ever called receive()


async def test_a_stopped_channel_is_not_watched_even_if_incomplete() -> None:
    starts = WatchStarts(DELAY)
    client = Client()
    channel = ClientChannel(client.receive, client.send)
    channel.watch(DELAY, starts)
    channel.stop()                  # the exchange failed before its response completed
    await asyncio.sleep(DELAY * 3)
    assert client.received == 0


async def test_a_client_hanging_up_after_the_delay_cancels_the_exchange() -> None:
    starts = WatchStarts(DELAY)
    client = Client()
    outcome: list[str] = []

    async def exchange() -> None:
        channel = ClientChannel(client.receive, client.send)
        channel.watch(DELAY, starts)
        try:
            await asyncio.sleep(10)     # the upstream, slow to answer
        except asyncio.CancelledError:
            outcome.append("disconnected" if channel.consume_cancel() else "cancelled")
        finally:
            channel.stop()

    task = asyncio.create_task(exchange())
    await asyncio.sleep(DELAY * 3)
    assert client.received == 1     # watching
    client.hang_up()
    await asyncio.wait_for(task, 2)
    assert outcome == ["disconnected"]
    assert not task.cancelled()


async def test_channels_share_one_timer_and_start_in_order() -> None:
    starts = WatchStarts(DELAY)
    clients = [Client() for _ in range(50)]
    channels = [ClientChannel(c.receive, c.send) for c in clients]
    timers = set()
    for channel in channels:
        channel.watch(DELAY, starts)
        timers.add(id(starts._timer))
    assert len(timers) == 1         # the first one's timer serves them all
    channels[10].stop()
    await asyncio.sleep(DELAY * 4)
    assert [c.received for c in clients] == [0 if i == 10 else 1 for i in range(50)]
    for channel in channels:
        channel.stop()
    await asyncio.sleep(0)


def test_a_new_event_loop_starts_afresh() -> None:
    starts = WatchStarts(DELAY)
    received = []
    for _ in range(2):      # two loops, one after the other (as two test clients would)
        async def run() -> None:
            client = Client()
            channel = ClientChannel(client.receive, client.send)
            channel.watch(DELAY, starts)
            await asyncio.sleep(DELAY * 3)
            received.append(client.received)
            channel.stop()
            await asyncio.sleep(0)
        asyncio.run(run())
    assert received == [1, 1]


async def test_a_queued_start_does_not_keep_an_exchange_alive() -> None:
    import gc
    import weakref

    starts = WatchStarts(DELAY)
    client = Client()
    channel = ClientChannel(client.receive, client.send)
    channel.watch(DELAY, starts)
    channel.stop()
    gone = weakref.ref(channel)
    del channel
    gc.collect()
    assert gone() is None           # not held until its start is due
    await asyncio.sleep(DELAY * 3)  # the start comes due: nothing to do
    assert client.received == 0
