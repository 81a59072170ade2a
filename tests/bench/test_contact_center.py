"""The contact center's figure at the fixed rate: the median of its repeated steps."""

from __future__ import annotations

from typing import Any

from bench.contact_center import median_step


def _step(p99: float | None) -> dict[str, Any]:
    return {"to_agent_p99_ms": p99}


def test_the_median_step_is_the_middle_one_by_p99() -> None:
    steps = [_step(90.0), _step(12.0), _step(45.0), _step(300.0), _step(20.0)]
    assert median_step(steps) is steps[2]


def test_a_step_that_lost_messages_ranks_slowest() -> None:
    # None: more than 1 % never arrived, slower than any figure
    steps = [_step(None), _step(None), _step(10.0)]
    assert median_step(steps)["to_agent_p99_ms"] is None
    steps = [_step(None), _step(40.0), _step(10.0)]
    assert median_step(steps) is steps[1]


def test_an_even_number_takes_the_lower_middle_and_one_step_is_itself() -> None:
    steps = [_step(30.0), _step(10.0), _step(20.0), _step(40.0)]
    assert median_step(steps) is steps[2]
    one = [_step(None)]
    assert median_step(one) is one[0]
