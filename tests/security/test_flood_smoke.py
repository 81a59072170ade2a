"""A smoke run of ./scripts/bench flood: it runs end to end and reports its figures.
It asserts no timing: that is the benchmark's job (docs/security.md#flood-isolation)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main


def test_the_flood_benchmark_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "flood.json"
    assert main(["flood", "--quick", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["workload"] == "flood" and result["quick"] is True
    for scenario in ("limited", "unlimited"):
        figures = result[scenario]
        assert set(figures) == {
            "baseline_p50_ms",
            "baseline_p99_ms",
            "flood_p50_ms",
            "flood_p99_ms",
            "p99_ratio",
            "flood_frames_sent",
            "flood_frames_refused",
            "flood_closed_4029",
            "flood_connections",
        }
        assert figures["flood_frames_sent"] >= 100
        assert figures["flood_p99_ms"] > 0 and figures["baseline_p99_ms"] > 0
