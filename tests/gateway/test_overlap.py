"""Jobs side by side where they may be (gateway/services/overlap.py, as a cluster's
leader carries out a run of router events): pure logic on a real event loop. Every
wait is on an event; a job that would have to run beside another to finish ends the test
with a timeout, not a hang."""

from __future__ import annotations

import asyncio

import pytest

from gateway.services.overlap import Overlap

BOUND = 10.0  # never reached when the behaviour holds


async def test_jobs_of_different_keys_run_side_by_side() -> None:
    overlap = Overlap(8)
    a_started, b_started = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def job(name: str, mine: asyncio.Event, other: asyncio.Event) -> None:
        mine.set()
        await asyncio.wait_for(other.wait(), BOUND)  # only if the other is under way too
        done.append(name)

    await overlap.ready("a")
    overlap.start("a", job("a", a_started, b_started))
    await overlap.ready("b")
    overlap.start("b", job("b", b_started, a_started))
    await overlap.drain()
    assert sorted(done) == ["a", "b"]
    assert len(overlap) == 0


async def test_a_keys_next_job_waits_for_the_one_before() -> None:
    overlap = Overlap(8)
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        await release.wait()
        order.append("first")

    await overlap.ready("a")
    overlap.start("a", first())
    waiting = asyncio.create_task(overlap.ready("a"))
    await asyncio.sleep(0)  # let it reach its wait
    assert not waiting.done()
    release.set()
    await asyncio.wait_for(waiting, BOUND)
    order.append("second may start")
    assert order == ["first", "second may start"]


async def test_no_key_waits_for_every_job_and_the_limit_holds() -> None:
    overlap = Overlap(2)
    gates = {k: asyncio.Event() for k in "abc"}
    ended: list[str] = []

    async def job(k: str) -> None:
        await gates[k].wait()
        ended.append(k)

    for k in "ab":
        await overlap.ready(k)
        overlap.start(k, job(k))
    assert len(overlap) == 2
    third = asyncio.create_task(overlap.ready("c"))  # no room: two under way
    await asyncio.sleep(0)
    assert not third.done()
    gates["b"].set()
    await asyncio.wait_for(third, BOUND)
    overlap.start("c", job("c"))
    barrier = asyncio.create_task(overlap.ready(None))
    await asyncio.sleep(0)
    gates["c"].set()
    await asyncio.sleep(0)
    assert not barrier.done()  # "a" is still under way
    gates["a"].set()
    await asyncio.wait_for(barrier, BOUND)
    assert sorted(ended) == ["a", "b", "c"]


async def test_cancel_ends_the_jobs_under_way_and_a_failed_job_does_not_stop_the_rest() -> None:
    overlap = Overlap(8)
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def fails() -> None:
        raise RuntimeError("its own")

    await overlap.ready("x")
    overlap.start("x", fails())
    await overlap.ready("y")
    overlap.start("y", forever())
    await overlap.ready("x")  # after the failed one: it is over, not raised here
    await overlap.cancel()
    assert cancelled.is_set()
    assert len(overlap) == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Overlap(0)


async def test_jobs_a_cancelled_wait_was_for_are_still_cancelled_by_cancel() -> None:
    # the shutdown path: the run is cancelled while it waits for its jobs
    overlap = Overlap(8)
    ended = {k: asyncio.Event() for k in "ab"}

    async def forever(k: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended[k].set()

    for k in "ab":
        await overlap.ready(k)
        overlap.start(k, forever(k))
    for waiting in (overlap.drain(), overlap.ready("a")):
        waiter = asyncio.ensure_future(waiting)
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await overlap.cancel()
    assert all(e.is_set() for e in ended.values())
    assert len(overlap) == 0
