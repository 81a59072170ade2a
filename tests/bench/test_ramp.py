"""The ramp's verdicts from steps made up here (pure logic: ``one_step`` is replaced by a
script of p99s, ``settle`` by nothing; the real steps run in ``./scripts/bench``)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import ramp

RATES = [100, 200, 400, 800]


class Script:
    """p99 per (rate, attempt); every rate passes at 10 ms unless told otherwise."""

    def __init__(
        self, p99s: dict[tuple[int, int], float], behind: frozenset[int] = frozenset()
    ) -> None:
        self.p99s = p99s
        self.behind = behind  # rates at which half the offer is delivered
        self.tries: dict[int, int] = {}
        self.offered: list[int] = []
        self.settled = 0

    def step(self, _fleet: Any, _pids: Any, n: int, rate: float, *_: Any) -> dict[str, Any]:
        rate = round(rate)
        if n == 0:  # the warm-up
            return {}
        attempt = self.tries[rate] = self.tries.get(rate, 0) + 1
        self.offered.append(rate)
        return {
            "offered_msgs_per_s": rate,
            "delivered_msgs_per_s": rate // 2 if rate in self.behind else rate,
            "p50_ms": 1.0,
            "p99_ms": self.p99s.get((rate, attempt), 10.0),
            "lost": 0,
            "server_cpu_us_per_msg": 100.0,
            "cpu_us_per_msg_by_process": {},
            "generator_busy": 0.1,
            "generator_lag_s": 0.0,
        }

    def settle(self, _pids: Any) -> float:
        self.settled += 1
        return 0.0


def _ramp(monkeypatch: pytest.MonkeyPatch, script: Script, **cfg: Any) -> dict[str, Any]:
    monkeypatch.setattr(ramp, "one_step", script.step)
    monkeypatch.setattr(ramp, "settle", script.settle)
    config = {"rates": RATES, "duration_s": 1.0, "drain_s": 0.5, "refine": 1, **cfg}
    return ramp.stepped(None, [], config, log=lambda _: None)  # type: ignore[arg-type]


def test_a_step_that_fails_once_is_run_again_and_the_ramp_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Script({(200, 1): 400.0, (800, 1): 900.0, (800, 2): 800.0})
    result = _ramp(monkeypatch, script)
    # 200 failed, ran again and passed; 800 failed twice: the knee, refined once (566)
    assert script.offered == [100, 200, 200, 400, 800, 800, 566]
    assert result["sustained_msgs_per_s"] == 566
    assert result["knee"]["at_offered"] == 800
    assert [s.get("repeated", False) for s in result["steps"]] == [
        False,
        True,
        False,
        False,
        True,
        False,
        False,
    ]
    assert script.settled == 3  # before each second run and before the refining step


def test_the_repeats_are_bounded_per_ramp(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({(100, 1): 400.0, (200, 1): 400.0, (400, 1): 400.0})
    result = _ramp(monkeypatch, script, repeats=2)
    # the third failure decides: it is not run again
    assert script.offered[:5] == [100, 100, 200, 200, 400]
    assert result["knee"]["at_offered"] == 400
    assert result["sustained_msgs_per_s"] == 283  # the refining step between 200 and 400


def test_without_repeats_the_first_failure_is_the_knee(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Script({(200, 1): 400.0})
    result = _ramp(monkeypatch, script, repeats=0)
    assert script.offered == [100, 200, 141]
    assert result["knee"]["at_offered"] == 200
    assert not any(s.get("repeated") for s in result["steps"])


def test_a_step_that_fell_behind_decides_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script({(400, 1): 900.0}, behind=frozenset({400}))
    result = _ramp(monkeypatch, script)
    assert script.offered == [100, 200, 400, 283]
    assert result["knee"] == {
        "found": True,
        "why": "throughput",
        "at_offered": 400,
        "generator_bound": False,
    }


def test_a_first_rate_past_the_knee_is_halved_until_a_step_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 100 and 50 fail (p99, then throughput); 25 holds: refined between 25 and 50 (35)
    script = Script({(100, 1): 400.0, (100, 2): 400.0}, behind=frozenset({50}))
    result = _ramp(monkeypatch, script, floor=10)
    assert script.offered == [100, 100, 50, 25, 35]
    assert result["sustained_msgs_per_s"] == 35
    assert result["knee"]["at_offered"] == 100
    assert "lowest_offered" not in result["knee"]


def test_a_system_that_holds_no_rate_down_to_the_floor_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Script({}, behind=frozenset({100, 50, 25, 12}))
    result = _ramp(monkeypatch, script, floor=12)
    assert script.offered == [100, 50, 25, 12]  # behind the offer: no second runs
    assert result["sustained_msgs_per_s"] == 0
    assert result["knee"]["lowest_offered"] == 12
