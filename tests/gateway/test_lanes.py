"""One socket's frames under way together (gateway/web/lanes.py), on plain asyncio:
lanes side by side, one lane in order, a frame without a lane after all before it, and
never more than the limit under way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.web.lanes import Lanes


def _frame(
    log: list[str], name: str, gate: asyncio.Event, began: asyncio.Event | None = None
) -> Callable[[], Awaitable[None]]:
    async def work() -> None:
        log.append(f"{name} begins")
        if began is not None:
            began.set()
        await gate.wait()
        log.append(f"{name} ends")

    return work


async def test_lanes_side_by_side_one_lane_in_order_and_a_barrier() -> None:
    lanes = Lanes(limit=8)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in ("a1", "a2", "b1", "x")}
    await lanes.run("a", _frame(log, "a1", gates["a1"]))
    a2_began = asyncio.Event()
    await lanes.run("a", _frame(log, "a2", gates["a2"], a2_began))
    b1_began = asyncio.Event()
    await lanes.run("b", _frame(log, "b1", gates["b1"], b1_began))
    # a2's task was scheduled before b1's: had it not waited for a1, it would have begun
    await asyncio.wait_for(b1_began.wait(), 10)
    assert log == ["a1 begins", "b1 begins"]  # a2 waits for a1, b1 does not
    gates["b1"].set()
    gates["a1"].set()
    gates["x"].set()
    barrier = asyncio.create_task(lanes.run(None, _frame(log, "x", gates["x"])))
    await asyncio.wait_for(a2_began.wait(), 10)
    assert not barrier.done()  # the frame without a lane waits for a2
    gates["a2"].set()
    await asyncio.wait_for(barrier, 10)
    assert log.index("x begins") > log.index("a2 ends")


async def test_no_more_than_the_limit_under_way() -> None:
    lanes = Lanes(limit=2)
    log: list[str] = []
    gate = asyncio.Event()
    await lanes.run("a", _frame(log, "a", gate))
    b_began = asyncio.Event()
    await lanes.run("b", _frame(log, "b", gate, b_began))
    third = asyncio.create_task(lanes.run("c", _frame(log, "c", gate)))
    # the third's first step runs in the turn b begins, before this test resumes
    await asyncio.wait_for(b_began.wait(), 10)
    assert not third.done() and "c begins" not in log  # the socket is not read further
    gate.set()
    await asyncio.wait_for(third, 10)
    await asyncio.wait_for(lanes.drain(), 10)
    assert sorted(log) == ["a begins", "a ends", "b begins", "b ends", "c begins", "c ends"]
