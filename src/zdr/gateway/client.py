"""The client side of one exchange: its `send`, and a watch for it hanging up mid-response.

uvicorn drops writes to a closed connection silently, so a disconnect is only seen by `receive()`
returning `http.disconnect` before the response is complete. The watch then cancels the task
serving the request, which cancels the upstream request with it.

The watch starts `WATCH_DELAY` seconds into the exchange: most non-streaming exchanges are over by
then and never pay for a task; a client that hung up earlier is seen at once when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib

from zdr.gateway.asgi import Message, Receive, Send

WATCH_DELAY = 0.05


class ClientChannel:
    __slots__ = ("_receive", "_send", "_task", "_timer", "_watch", "complete", "disconnected")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._watch: asyncio.Task[None] | None = None
        self.complete = False
        self.disconnected = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)

    def watch(self, delay: float = WATCH_DELAY) -> None:
        """Start watching (after `delay`); call once the request body has been read."""
        task = asyncio.current_task()
        if task is not None:
            self._task = task
            self._timer = asyncio.get_running_loop().call_later(delay, self._start_watch)

    def _start_watch(self) -> None:
        self._timer = None
        if not self.complete:
            self._watch = asyncio.get_running_loop().create_task(self._watch_loop())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
