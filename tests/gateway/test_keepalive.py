"""The keepalive wheel (gateway/web/transport.py): every socket's pings and pong
deadlines on one event-loop timer a tick (pure logic on a real event loop)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.web.transport import Keepalive


async def test_the_steps_of_a_tick_run_together_at_its_end_and_cancelled_ones_do_not() -> None:
    loop = asyncio.get_running_loop()
    wheel = Keepalive(tick=0.05)
    ran: list[tuple[str, float]] = []
    done = asyncio.Event()
    now = loop.time()
    first = (now // 0.05 + 2) * 0.05  # the start of a tick two ticks ahead

    def step(name: str) -> None:
        ran.append((name, loop.time()))
        if name == "a":  # runs after every step of this timer's turn
            loop.call_soon(lambda: ran.append(("next turn", loop.time())))
        if name == "next tick":
            done.set()

    wheel.at(loop, first + 0.01, lambda: step("a"))
    wheel.at(loop, first + 0.04, lambda: step("b"))
    wheel.at(loop, first + 0.02, lambda: step("cancelled")).cancel()
    wheel.at(loop, first + 0.07, lambda: step("next tick"))
    timers = len(loop._scheduled) if hasattr(loop, "_scheduled") else None  # asyncio's loop
    await asyncio.wait_for(done.wait(), 10)
    # a and b at the end of their tick, in one turn of the loop; the third a tick later
    assert [name for name, _ in ran] == ["a", "b", "next turn", "next tick"]
    assert ran[0][1] >= first + 0.04
    assert ran[3][1] >= first + 0.09
    if timers is not None:
        assert timers <= 2  # one timer for each tick, not one for each step


async def test_a_step_that_fails_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    wheel = Keepalive(tick=0.01)
    ran = asyncio.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    when = loop.time() + 0.001
    wheel.at(loop, when, fail)
    wheel.at(loop, when, ran.set)
    await asyncio.wait_for(ran.wait(), 10)
    assert "keepalive step failed" in caplog.text
