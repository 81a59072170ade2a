"""gateway.aio.cancel_and_wait: a background task stopped, and its stopper's own
cancellation kept."""

from __future__ import annotations

import asyncio

import pytest

from gateway.aio import KeyedLocks, cancel_and_wait


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


async def test_keyed_locks_never_let_two_in_and_forget_keys_when_done() -> None:
    """A newcomer arriving between a release and the next waiter's wake-up (when the
    lock reads unlocked) waits too: a lock dropped on ``not locked()`` let it in beside
    that waiter (channels/chat/email_followup.py did so)."""
    locks: KeyedLocks[str] = KeyedLocks()
    inside: list[str] = []
    most = 0

    async def hold(name: str, release: asyncio.Event) -> None:
        nonlocal most
        async with locks.hold("k"):
            inside.append(name)
            most = max(most, len(inside))
            await release.wait()
            inside.remove(name)

    first, rest = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(hold("a", first))
    await asyncio.sleep(0)
    b = asyncio.create_task(hold("b", rest))
    await asyncio.sleep(0)  # b waits for a
    first.set()
    await a  # a released; b is woken but has not run yet
    c = asyncio.create_task(hold("c", rest))
    rest.set()
    await asyncio.gather(b, c)
    assert most == 1
    assert len(locks) == 0


async def test_a_task_that_swallowed_its_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancellation lost on its way (Python 3.11's asyncio.wait_for in a library
    returns a result that came with it, and the loop around it goes on) left the task
    running and its stop() waiting for good: a CI run hung ten minutes on an email
    receiver's stop. It is cancelled again until it ends."""
    monkeypatch.setattr("gateway.aio.CANCEL_AGAIN_AFTER", 0.05)
    swallowed = 0

    async def loses_one() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as the lost cancellation: the loop goes on

    task = asyncio.create_task(loses_one())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await cancel_and_wait(task)
    assert task.cancelled() and swallowed == 1
