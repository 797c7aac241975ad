"""The client side of one exchange: its `send`, and a watch for it hanging up mid-response.

uvicorn drops writes to a closed connection silently, so a disconnect is only seen by `receive()`
returning `http.disconnect` before the response is complete. The watch then cancels the task
serving the request, which cancels the upstream request with it.

The watch starts `WATCH_DELAY` seconds into the exchange (at most `WATCH_SLACK` later): most
non-streaming exchanges are over by then and never pay for a task; a client that hung up earlier
is seen at once when it starts. The delayed starts of all exchanges share one timer per event
loop (`WatchStarts`), which fires at most once per `WATCH_SLACK` for all the starts then due: an
exchange costs a queue entry, not a timer of its own that must be made and cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque

from zdr.gateway.asgi import Message, Receive, Send

WATCH_DELAY = 0.05
WATCH_SLACK = 0.01


class ClientChannel:
    __slots__ = ("__weakref__", "_receive", "_send", "_stopped", "_task", "_watch", "complete",
                 "disconnected")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopped = False
        self.complete = False
        self.disconnected = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)

    def watch(self, delay: float = WATCH_DELAY, starts: WatchStarts | None = None) -> None:
        """Start watching (after `delay`); call once the request body has been read. `starts`:
        the loop's shared timer for `delay` (one made for this channel when not given)."""
        task = asyncio.current_task()
        if task is not None:
            self._task = task
            (starts if starts is not None else WatchStarts(delay)).add(self)

    def start_watch(self) -> None:
        """The delay is over: watch, unless the exchange is already over."""
        if not self.complete and not self._stopped:
            self._watch = asyncio.get_running_loop().create_task(self._watch_loop())

    def stop(self) -> None:
        self._stopped = True    # a start still queued does nothing
        # Once the response is complete the watch ends by itself (receive() returns at once).
        if self._watch is not None and not self.complete and not self._watch.done():
            self._watch.cancel()

    def consume_cancel(self) -> bool:
        """True if a cancellation came from the client hanging up (and is now absorbed)."""
        if self.disconnected and self._task is not None:
            self._task.uncancel()
            return True
        return False

    async def _watch_loop(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    if not self.complete and self._task is not None:
                        self.disconnected = True
                        self._task.cancel()
                    return


class WatchStarts:
    """The delayed watch starts of every channel on one event loop, `delay` seconds after each
    was added (at most `WATCH_SLACK` later), behind one timer: entries are due in the order they
    were added, so the timer only ever waits for the oldest, and it fires at most once per
    `WATCH_SLACK`. A channel stopped meanwhile is dropped when its turn comes; the queue holds
    channels weakly, so an exchange that is over is not kept alive (nor its request) until then.
    Used from one event loop at a time; a new loop starts afresh (the old one's entries are
    gone with it)."""

    __slots__ = ("_delay", "_due", "_loop", "_timer")

    def __init__(self, delay: float = WATCH_DELAY) -> None:
        self._delay = delay
        self._due: deque[tuple[float, weakref.ref[ClientChannel]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(self, channel: ClientChannel) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._timer = loop, None
            self._due.clear()
        due = loop.time() + self._delay
        self._due.append((due, weakref.ref(channel)))
        if self._timer is None:
            self._timer = loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        queue = self._due
        while queue and queue[0][0] <= now:
            channel = queue.popleft()[1]()
            if channel is not None:
                channel.start_watch()
        if queue:
            self._timer = loop.call_at(max(queue[0][0], now + WATCH_SLACK), self._fire)
