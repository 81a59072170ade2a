"""gateway.aio.cancel_and_wait: a background task stopped, and its stopper's own
cancellation kept."""

from __future__ import annotations

import asyncio

import pytest

from gateway.aio import cancel_and_wait


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_running_task_is_cancelled_and_waited_for() -> None:
    task = asyncio.create_task(_forever())
    await asyncio.sleep(0)  # let it start
    await cancel_and_wait(task)
    assert task.cancelled()
    await cancel_and_wait(None)  # nothing to stop


async def test_the_stoppers_own_cancellation_is_not_swallowed() -> None:
    cleaning = asyncio.Event()
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cleaning.set()
            await release.wait()  # cleanup that takes a while
            raise

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    await asyncio.wait_for(cleaning.wait(), 10)
    stopper.cancel()  # a shutdown that gives up waiting
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled()
    assert task.cancelled()


async def test_a_cleanup_in_a_cancelled_task_goes_on_after_it() -> None:
    stopped: list[str] = []

    async def owner() -> None:
        a = asyncio.create_task(_forever())
        b = asyncio.create_task(_forever())
        try:
            await asyncio.Event().wait()
        finally:  # the owner is being cancelled: both of its tasks still get stopped
            await cancel_and_wait(a)
            stopped.append("a")
            await cancel_and_wait(b)
            stopped.append("b")

    task = asyncio.create_task(owner())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped == ["a", "b"]


async def test_an_error_the_task_ended_with_is_raised() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.wait([task])
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(task)
