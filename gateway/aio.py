"""What the gateway's background tasks share in asyncio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


# How long a cancelled task may run on before it is cancelled again: a cancellation
# swallowed on its way (Python 3.11's asyncio.wait_for in a library returns a result
# that came together with it) leaves the task running, and its stop() waiting for good.
CANCEL_AGAIN_AFTER = 1.0


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended (nothing to do for None),
    cancelling it again each ``CANCEL_AGAIN_AFTER`` while it runs on.

    The task's own cancellation ends here; the caller's does not: a ``stop()`` that is
    itself cancelled while it waits (a shutdown given up on) is cancelled still, which a
    plain ``suppress(CancelledError)`` around the wait would have swallowed. A caller
    cancelled before it came here (a ``finally`` that stops what its task started) goes
    on with the rest of its cleanup. An error the task ended with is raised, as awaiting
    it would."""
    if task is None:
        return
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    task.cancel()
    again = _CancelAgain(task)
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > before:
            raise
    finally:
        again.stop()


class _CancelAgain:
    """Cancels ``task`` again each ``CANCEL_AGAIN_AFTER`` until it has ended."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self._handle = asyncio.get_running_loop().call_later(CANCEL_AGAIN_AFTER, self._again)

    def _again(self) -> None:
        if not self._task.done():
            self._task.cancel()
            self._handle = asyncio.get_running_loop().call_later(CANCEL_AGAIN_AFTER, self._again)

    def stop(self) -> None:
        self._handle.cancel()


class KeyedLocks(Generic[K]):
    """One lock per key, kept only while someone holds or waits for it: ``async with
    locks.hold(key)``. The count, not ``Lock.locked()``, says when a key's lock may go:
    between a release and the next waiter's wake-up the lock reads unlocked, and a lock
    dropped then lets a newcomer in beside that waiter."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        """Keys held or waited for (none left behind once every holder is done)."""
        return len(self._locks)
