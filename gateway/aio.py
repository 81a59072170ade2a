"""What the gateway's background tasks share in asyncio."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended (nothing to do for None).

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
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > before:
            raise
