"""The per-socket frame budget (gateway/web/limits.py FrameLimit): a sliding window
counter on the socket itself. Pure logic, on a clock the test moves."""

from __future__ import annotations

import pytest

from gateway.web import limits
from gateway.web.limits import FRAME_GRACE, FrameLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(limits.time, "monotonic", c)
    return c


def allowed(frames: FrameLimit, n: int) -> int:
    return sum(frames.allow() for _ in range(n))


def test_the_limit_holds_within_a_minute_and_refusals_add_up(clock: Clock) -> None:
    frames = FrameLimit(20)
    assert allowed(frames, 20) == 20
    clock.now += 30
    assert not frames.allow()
    assert allowed(frames, FRAME_GRACE - 2) == 0
    assert not frames.exhausted
    assert not frames.allow()
    assert frames.exhausted


def test_the_minute_before_counts_by_how_much_the_window_still_covers(clock: Clock) -> None:
    frames = FrameLimit(20)
    assert allowed(frames, 20) == 20
    clock.now += 60  # the next minute starts: all 20 still inside the sliding minute
    assert allowed(frames, 5) == 0
    clock.now += 30  # half of the minute before is still covered: 10 of its 20 count
    assert allowed(frames, 15) == 10
    assert frames.refused == 5  # the five after the ten allowed, in a row
    clock.now += 130  # quiet for two minutes: the whole budget again
    assert allowed(frames, 25) == 20


def test_an_allowed_frame_ends_a_run_of_refusals(clock: Clock) -> None:
    frames = FrameLimit(2)
    assert allowed(frames, 2 + FRAME_GRACE - 1) == 2
    assert frames.refused == FRAME_GRACE - 1
    clock.now += 200
    assert frames.allow()
    assert frames.refused == 0


def test_zero_means_no_limit(clock: Clock) -> None:
    frames = FrameLimit(0)
    assert allowed(frames, 10_000) == 10_000
