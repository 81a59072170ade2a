"""The router benchmark runs end to end in quick mode and names its figures with units
(no timing is asserted: this is a smoke test, not a measurement)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.router
from bench.__main__ import main


def test_router_benchmark_quick_writes_named_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        bench.router, "QUICK", {"agents": 12, "queues": 3, "waiting": [5, 30], "events": 300}
    )
    out = tmp_path / "router.json"
    assert main(["router", "--quick", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["workload"] == "router" and result["quick"] is True
    assert [r["waiting"] for r in result["results"]] == [5, 30]
    for r in result["results"]:
        assert r["events"] >= 300 and r["agents"] == 12 and r["queues"] == 3
        for key in ("events_per_s", "median_us", "p99_us", "p999_us", "max_us"):
            assert r[key] > 0, key
        assert r["waiting_at_end"] >= r["waiting"] - 12 * 4  # the backlog stayed put
        assert {"ConversationArrived", "End", "Accept", "WrapUp"} <= set(r["by_event"])
    assert set(result["goals_met"]) == {"events_per_s", "p99_us", "p99_growth_ratio"}
    assert "p99_growth_ratio" in result
    assert "events/s" in capsys.readouterr().out
