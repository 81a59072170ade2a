"""The load generator's pacing: it sends on schedule, a tick's messages at a time."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from bench import loadgen
from bench.loadgen import SEND_TICK_S, Conn, Generator


class _Recorder:
    """Stands for a client socket: notes when each frame left against when it was due."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[tuple[float, float]] = []  # (scheduled, left at)

    def send(self, text: str) -> None:
        body = text.split("|", 1)[1]  # the bare relay's "M{room}|{body}"
        scheduled = float(body.partition(":")[2].split(" ", 1)[0])
        self.sent.append((scheduled, time.monotonic()))


async def test_a_step_wakes_once_a_tick_at_most_and_sends_nothing_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gen = Generator(system="ws")
    sock = _Recorder()
    gen.visitors = [cast(Conn, sock)]
    gen.peer_rooms = {id(sock): ["r1"]}
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> Any:
        sleeps.append(delay)
        return await real_sleep(delay)

    monkeypatch.setattr(loadgen.asyncio, "sleep", sleep)
    # one message due every half tick: a step that woke for each would wake 400 times
    rate, duration = 2 / SEND_TICK_S, 0.2
    result = await gen.step({"step": 3, "rate": rate, "duration": duration, "drain": 0.0})

    assert result["sent"] == len(sock.sent) == int(rate * duration)
    assert all(left >= scheduled for scheduled, left in sock.sent)
    sending = sleeps[:-1]  # the last one waits out the drain
    assert sending and min(sending) >= SEND_TICK_S
    # one wake-up a tick at most, however many messages fall due in it
    assert len(sending) <= duration / SEND_TICK_S + 2 < len(sock.sent)


def test_machine_shares_are_of_all_the_cores_time() -> None:
    # user nice system idle iowait irq softirq steal, in ticks, before and after
    before = (100, 0, 50, 1000, 10, 0, 5, 0)
    after = (160, 0, 70, 1100, 10, 0, 15, 10)  # 200 ticks: 100 idle, 10 of them steal
    shares = loadgen.machine_shares(before, after)
    assert shares == {"busy": 0.5, "softirq": 0.05, "steal": 0.05}
    assert loadgen.machine_shares(after, after)["busy"] == 0.0


def test_machine_ticks_reads_this_machine() -> None:
    first = later = loadgen.machine_ticks()
    assert len(first) == len(loadgen.MACHINE_FIELDS)
    # the counters move on their own (every core is counted busy or idle each tick):
    # read until they do, bounded for a machine that stalls
    deadline = time.monotonic() + 10.0
    while later == first and time.monotonic() < deadline:
        later = loadgen.machine_ticks()
    assert later != first
    assert all(b >= a for a, b in zip(first, later, strict=True))
