"""Jobs side by side where they may be: a keyed job after the earlier jobs of its key, an
unkeyed one (a barrier) after every earlier job and before any later one, at most
``limit`` under way at once.

A cluster's leader carries out a run of router events so (router_shell's ``_runs``, its
own sockets' events and its followers'): each event's effects are store and bus round
trips awaited in turn, and events of different conversations need not wait for each
other's (docs/scaling.md, "Forwarding").
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Overlap:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._under_way: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return sum(not t.done() for t in self._under_way.values())

    async def ready(self, key: str | None) -> None:
        """Wait until a job of ``key`` may start (``None``: until every job is done),
        with room for it under the limit."""
        if key is None:
            await self.drain()
            return
        earlier = self._under_way.get(key)
        if earlier is not None:
            await asyncio.wait([earlier])  # still held here: cancel() reaches it meanwhile
        while len(self) >= self._limit:
            await asyncio.wait(
                [t for t in self._under_way.values() if not t.done()],
                return_when=asyncio.FIRST_COMPLETED,
            )
        _reap([t for t in self._under_way.values() if t.done()])
        self._under_way = {k: t for k, t in self._under_way.items() if not t.done()}

    def start(self, key: str, job: Coroutine[Any, Any, None]) -> None:
        """Start ``job`` (after ``ready(key)``); it handles its own errors (one that
        escapes ends its task and is dropped)."""
        self._under_way[key] = asyncio.create_task(job)

    async def drain(self) -> None:
        """Wait for every job started."""
        tasks = list(self._under_way.values())
        if tasks:
            await asyncio.wait(tasks)  # still held here: cancel() reaches them meanwhile
        _reap(tasks)
        self._under_way.clear()

    async def cancel(self) -> None:
        """Cancel the jobs under way and wait for them to end."""
        tasks = list(self._under_way.values())
        self._under_way.clear()
        for task in tasks:
            task.cancel()  # nothing for one already done
        if tasks:
            await asyncio.wait(tasks)
        _reap(tasks)


def _reap(tasks: list[asyncio.Task[None]]) -> None:
    # read, so that asyncio does not log them as never retrieved
    for task in tasks:
        if not task.cancelled():
            task.exception()
