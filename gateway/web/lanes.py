"""One socket's frames under way together: an agent's messages to different
conversations.

A console socket carries every conversation its agent holds. Handled one frame at a
time, each message waits for the one before it to be committed (a round trip to the
store's next batch) even when it goes to another conversation: an agent who holds 50
conversations gets one message stored per batch, whatever the store could take
(docs/scaling.md, "One socket, many conversations").

Here a frame with a lane (its conversation) starts at once beside the frames of other
lanes, after those of its own lane: one conversation's messages keep the order they
were sent in, so their seqs do too. A frame without a lane waits until every frame
before it is done, and the frames after it wait for it: an action (transfer, wrap-up,
status ...) sees everything sent before it, as it did on the one-at-a-time path. At most
``limit`` frames are under way; the socket is not read further until one is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# Frames of one socket under way at once: a few per store batch round trip (an agent
# with 50 conversations at 2.5 messages a second each needs 125 a second; batches come
# back every 10-50 ms). More only queues: under overload each frame let in waits in the
# node instead of in TCP, and its batch and the burst of answers after it grow with it
# (with 64, contact-center runs on a loaded machine were no better, often worse).
MAX_IN_FLIGHT = 8

Work = Callable[[], Coroutine[Any, Any, None]]


class Lanes:
    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        # a slot per frame under way (O(1) to wait for: asyncio.wait over the frames
        # under way cost a tenth of a node's CPU in the contact-center benchmark)
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}  # lane -> its latest frame

    async def run(self, lane: str | None, work: Work) -> None:
        """Start ``work`` in ``lane`` (None: alone, after everything before it, and
        awaited here). ``work`` must not raise: each frame answers its own errors."""
        if lane is None:
            await self.drain()
            await work()
            return
        await self._slots.acquire()
        before = self._last.get(lane)
        # a lane with nothing under way (the common case) needs no wrapper coroutine
        task = asyncio.create_task(
            work() if before is None or before.done() else _after(before, work)
        )
        self._tasks.add(task)
        self._last[lane] = task
        task.add_done_callback(lambda t: self._done(lane, t))

    def _done(self, lane: str, task: asyncio.Task[None]) -> None:
        self._slots.release()
        self._tasks.discard(task)
        if self._last.get(lane) is task:
            del self._last[lane]
        if not task.cancelled():
            task.exception()  # retrieved: ``work`` answers its own errors

    async def drain(self) -> None:
        """Wait for every frame under way."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


async def _after(before: asyncio.Task[None], work: Work) -> None:
    if not before.done():
        await asyncio.wait({before})  # its outcome is its own
    await work()
