"""A background loop told to wake and to stop at the same moment stops.

``asyncio.wait_for`` on Python 3.11 loses a cancellation that arrives as what it waits
for finishes: it returns the result, the loop around it goes on, and the ``stop()`` that
cancelled it waits for good (a CI run sat in a fixture's teardown until it was killed).
The loops wait with ``asyncio.timeout`` instead (pyproject.toml bans ``wait_for``
outside the tests). Each case here wakes a real loop of a running gateway and stops it
in the same step of the event loop; on the old code the stop never returned. (The
router's timer waits so too, but with no deadline when nothing is ringing, which
``wait_for`` awaited plainly.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from devkit.inprocess import InProcessGateway
from gateway.aio import cancel_and_wait

BOUND = 30.0  # a stop takes milliseconds; a lost cancellation, for ever


def _wake_and_stop(task: asyncio.Task[None] | None, wake: Callable[[], None]) -> asyncio.Task[None]:
    assert task is not None and not task.done()
    wake()  # what the loop waits for finishes...
    return asyncio.create_task(cancel_and_wait(task))  # ...as the stop cancels it


async def _waited_on(event: asyncio.Event) -> None:
    """Until a task waits for ``event`` (the loop's first round, a store read, is done)."""
    async with asyncio.timeout(BOUND):
        # nothing tells when a task starts waiting: asyncio.Event keeps its waiters
        while not event._waiters:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("loop", ["deliveries", "idle closer"])
async def test_a_loop_woken_as_it_is_stopped_stops(loop: str) -> None:
    async with InProcessGateway({"GATEWAY_DEMO": "1"}) as gw:
        node = gw.node
        if loop == "deliveries":
            task, event = node.deliveries._task, node.deliveries._wake
        else:
            task, event = node.idle._task, node.idle._changed
        await _waited_on(event)
        stopping = _wake_and_stop(task, event.set)
        async with asyncio.timeout(BOUND):
            await stopping
        assert task is not None and task.cancelled()
