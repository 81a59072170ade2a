"""Smoke runs of the benchmark workloads: each ``--quick`` mode runs in seconds against
real servers and its JSON carries the named figures with their units. No timing is
asserted here: the figures come from ``./scripts/bench``, never from a test.

The module's fixtures run once each (the report renders all their results); the runs
that share none are ``apart``, so another worker takes them meanwhile (tests/conftest.py)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import (
    abuse,
    attachments,
    contact_center,
    idle,
    idle_memory,
    ramp,
    relay,
    relay_idle,
    relay_page,
    report,
    side_by_side,
    sockets,
)
from bench.loadgen import percentile

ROOT = Path(__file__).resolve().parents[2]

STEP_KEYS = {
    "offered_msgs_per_s",
    "delivered_msgs_per_s",
    "p50_ms",
    "p99_ms",
    "to_agent_p99_ms",
    "server_cpu_us_per_msg",
    "lost",
}


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@pytest.fixture(scope="module")
def relay_result() -> dict[str, Any]:
    # The bare websockets peers run with this interpreter; the others need bench/.venv-peers
    # and are measured by the benchmark, not here.
    return relay.run(
        True, systems=("gateway", "gateway-2n", "ws", "ws-sqlite"), peer_python=sys.executable
    )


@pytest.fixture(scope="module")
def idle_result() -> dict[str, Any]:
    return idle.run(True)


@pytest.fixture(scope="module")
def contact_center_result() -> dict[str, Any]:
    return contact_center.run(True)


@pytest.fixture(scope="module")
def abuse_result() -> dict[str, Any]:
    return abuse.run(True)


def test_abuse_quick_has_its_figures(abuse_result: dict[str, Any]) -> None:
    r = abuse_result
    assert r["gateway_alive"] is True
    for key in ("baseline_p50_ms", "baseline_p99_ms", "attack_p50_ms", "attack_p99_ms"):
        assert _number(r[key]), key
    assert r["attack_round_trips"] > 0
    for key in ("rss_before_mb", "rss_peak_mb", "rss_after_mb", "rss_growth_mb"):
        assert _number(r[key]), key
    for name in ("p99_ms_under_attack", "rss_growth_mb"):
        bound = r["bounds"][name]
        assert _number(bound["bound"]) and _number(bound["measured"])
        assert isinstance(bound["met"], bool)
    attacks = r["attacks"]
    # Each attack reached the server (the bounds are the benchmark's, not asserted here).
    assert sum(attacks["logins"].values()) > 0
    assert attacks["non_reader"]["history_requests"] > 0
    assert attacks["slowloris"]["opened"] > 0
    assert r["bystander_healthz"]["ok"] > 0
    page = abuse.markdown(r)
    assert "send → ack p99" in page and "login flood" in page
    json.dumps(r)


def test_relay_quick_has_its_figures(relay_result: dict[str, Any]) -> None:
    for name in ("gateway", "gateway-2n", "ws", "ws-sqlite"):
        s = relay_result["systems"][name]
        assert "error" not in s, s.get("error")
        assert _number(s["sustained_msgs_per_s"]) and s["sustained_msgs_per_s"] > 0
        assert _number(s["p50_ms_at_sustained"]) and _number(s["p99_ms_at_sustained"])
        assert _number(s["server_cpu_us_per_msg"])
        for step in s["steps"]:
            assert step.keys() >= STEP_KEYS
            assert 0 <= step["generator_busy"] <= 1.5
        first = s["steps"][0]
        assert first["received"] == first["sent"], first  # nothing lost at a trickle
        # The quick ramp goes on to the knee, or says why it found none.
        knee = s["knee"]
        assert knee["found"] or knee["why"], knee
        if knee["found"]:
            assert knee["why"] in ("p99", "throughput")
            assert any(not ramp._within(step, ramp.P99_LIMIT_MS) for step in s["steps"])
    # the gateway does not relay the top of the quick ramp (128,000 msg/s) in time
    assert relay_result["systems"]["gateway"]["knee"]["found"] is True
    # two nodes: the server's CPU is every process's, split per process
    two = relay_result["systems"]["gateway-2n"]
    assert two["server_alive"] == [True, True]
    split = two["cpu_us_per_msg_by_process"]
    assert set(split) == {"node A", "node B", "PostgreSQL", "Redis"}
    assert all(_number(v) and v > 0 for v in split.values()), split
    for step in two["steps"]:
        parts = step["cpu_us_per_msg_by_process"]
        if step["received"]:
            assert math.isclose(
                sum(parts.values()), step["server_cpu_us_per_msg"], rel_tol=0.01, abs_tol=0.5
            ), step
    # what PostgreSQL ran per message, from pg_stat_statements: the append among it
    pg_stats = two["postgres_per_msg"]
    assert pg_stats["messages"] > 0 and pg_stats["calls_per_msg"] > 0, pg_stats
    appends = ("WITH bumped AS", "WITH batch AS")  # APPEND, APPEND_MANY (_pg_append.py)
    assert any(s["query"].startswith(appends) for s in pg_stats["statements"]), pg_stats
    # ... planned once per connection, not at every call (docs/store.md)
    for s in pg_stats["statements"]:
        if s["query"].startswith(appends) and s["calls_per_msg"] > 0.05:
            assert s["plans_per_call"] < 0.5, s
    # the main rows keep the rate limits on; where the processes ran is stated
    assert relay_result["names"]["gateway"].endswith("rate limits on")
    for name in ("gateway", "gateway-2n"):
        limits = relay_result["systems"][name]["rate_limits_env"]
        assert limits["GATEWAY_FRAMES_PER_MINUTE"] != "0", limits
    assert relay_result["placement"]["note"]
    assert {"gateway_quarter_of_ws", "gateway_10000_msgs_per_s_one_core"} <= set(
        relay_result["goals"]
    )
    assert _number(relay_result["gateway_to_ws_ratio"])
    assert _number(relay_result["gateway_to_ws-sqlite_ratio"])  # the floor of durability
    assert isinstance(relay_result["gateway_to_ws_ratio_note"], str)
    assert relay_result["body_bytes"] == 100
    json.dumps(relay_result)  # JSON-able as it stands


@pytest.fixture(scope="module")
def sockets_result() -> dict[str, Any]:
    return sockets.run(True)


def test_sockets_quick_has_its_figures(sockets_result: dict[str, Any]) -> None:
    for kind in sockets.KINDS:
        s = sockets_result["systems"][kind]
        assert _number(s["cpu_us_per_frame"]) and s["frames_per_s"] > 0
        assert s["idle"]["open"] == sockets.QUICK["idle"]
        assert _number(s["idle"]["kib_per_conn"])
    assert _number(sockets_result["asgi_to_websockets_cpu_ratio"])
    assert _number(sockets_result["gateway_to_websockets_cpu_ratio"])
    assert _number(sockets_result["gateway_to_websockets_idle_ratio"])
    json.dumps(sockets_result)


def test_idle_quick_has_its_figures(idle_result: dict[str, Any]) -> None:
    gw = idle_result["systems"]["gateway"]
    target = idle.QUICK["checkpoints"][-1]
    assert gw["connections_open"] == target
    assert gw["connections_held_after_s"]["open"] == target
    assert _number(idle_result["rss_per_conn_bytes"])
    assert _number(idle_result["rss_per_conn_kib"])
    assert {"rss_16kib_per_conn", "hold_19000_connections"} <= idle_result["goals"].keys()
    json.dumps(idle_result)


@pytest.mark.apart
def test_relay_idle_quick_reads_each_server_process() -> None:
    r = relay_idle.run(True)
    assert r["setup"]["held"] == r["conversations"]
    assert len(r["cores"]) == r["windows"]
    assert set(r["steady"]) == {"node A", "node B", "PostgreSQL", "Redis"}
    assert all(_number(v) and v >= 0 for v in r["steady"].values())
    assert r["setup"]["server_alive"] == [True, True]
    assert "relay-idle:" in relay_idle.summary(r)


@pytest.mark.apart
def test_side_by_side_quick_alternates_two_warm_gateways() -> None:
    r = side_by_side.run(True)
    cfg = side_by_side.QUICK
    assert r["server_alive"] == {"A": True, "B": True}
    assert r["sides"] == {"A": "rate limits on", "B": "rate limits off"}
    # every round steps both sides at every rate, the order swapped each round
    expected = [
        (n + 1, rate, side)
        for n in range(cfg["rounds"])
        for rate in cfg["rates"]
        for side in ("AB" if n % 2 == 0 else "BA")
    ]
    assert [(s["round"], s["offered_msgs_per_s"], s["side"]) for s in r["steps"]] == expected
    assert all(s["received"] > 0 for s in r["steps"])
    for rate in r["rates"]:
        assert rate["rounds"] == cfg["rounds"]
        assert all(_number(v) for v in rate["cpu_us_per_msg"].values())
        assert _number(rate["b_to_a"])
    text = relay_page.side_by_side(r)
    assert "| msg/s | A µs/msg | B µs/msg |" in text
    assert "side-by-side:" in side_by_side.summary(r)
    json.dumps(r)


def test_side_by_side_compares_each_rate_by_its_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    def step(side: str, rate: int, cpu: float, lost: int = 0) -> dict[str, Any]:
        return {
            "side": side,
            "offered_msgs_per_s": rate,
            "server_cpu_us_per_msg": cpu,
            "p99_ms": 10.0,
            "lost": lost,
        }

    steps = [step("A", 100, 200), step("B", 100, 150), step("B", 100, 260, 3)]
    steps += [step("A", 100, 240), step("A", 100, 220), step("B", 100, 180)]
    steps += [step("A", 999, 1)]  # another rate: not counted
    c = side_by_side.compare(steps, 100)
    assert c["cpu_us_per_msg"] == {"A": 220.0, "B": 180.0}
    assert c["b_to_a"] == round(180 / 220, 3)
    assert (c["b_lower_in"], c["rounds"]) == (2, 3)
    assert c["lost"] == {"A": 0, "B": 3}
    monkeypatch.setenv("BENCH_SIDE_B_SOURCE", "/elsewhere")
    sides = side_by_side._sides()
    assert sides["B"]["source"] == Path("/elsewhere")
    assert sides["A"]["rate_limits"] and sides["B"]["rate_limits"]


@pytest.mark.apart
def test_idle_memory_quick_attributes_a_sockets_bytes() -> None:
    result = idle_memory.run(True)
    assert result["sockets_added"] == idle_memory.QUICK["full"] - idle_memory.QUICK["half"]
    assert result["traced_per_conn_bytes"] > 1024, idle_memory.summary(result)
    # The owners of an idle socket's memory, each with its share.
    assert {"uvicorn", "websockets", "gateway"} <= result["by_owner_bytes"].keys()
    assert any(r["type"].endswith("GuardedWebSocket") for r in result["objects"])
    assert result["top_lines"]
    print(idle_memory.summary(result))
    json.dumps(result)


def test_contact_center_quick_has_its_figures(contact_center_result: dict[str, Any]) -> None:
    r = contact_center_result
    assert r["nodes_alive"] == [True, True]
    for key in (
        "max_conversations_p99_100ms",
        "p99_ms_at_5000_msgs_per_s",
        "delivered_msgs_per_s_at_5000",
    ):
        assert key in r
    assert set(r["goals"]) == {
        "p99_under_10ms_at_5000_msgs_per_s",
        "p99_under_50ms_at_5000_msgs_per_s",
    }
    assert not any(g["met"] for g in r["goals"].values())  # a quick run proves nothing
    # Two nodes must route a conversation started on either to an agent on either.
    assert r["setup_error"] is None, r["setup_error"]
    assert r["steps"] and r["steps"][0].keys() >= STEP_KEYS
    # every visitor's first message acknowledged, nothing refused on any socket
    assert r["steps"][-1]["errors"] == {}, r["steps"][-1]["errors"]
    assert r["fixed_rate"]["received"] > 0
    # the fixed rate repeated; its figure is the median step's
    repeated = r["fixed_rate_steps"]
    assert len(repeated) == 3
    assert r["fixed_rate"] is contact_center.median_step(repeated)
    assert r["p99_ms_at_5000_msgs_per_s"] == r["fixed_rate"]["to_agent_p99_ms"]
    # the machine's cores while each step sent: the servers and generators kept some busy
    for s in r["steps"] + repeated:
        m = s["machine"]
        assert 0 < m["busy"] <= 1 and 0 <= m["softirq"] <= m["busy"] and 0 <= m["steal"] <= 1
    json.dumps(r)


@pytest.fixture(scope="module")
def attachments_result() -> dict[str, Any]:
    return attachments.run(True)


def test_attachments_quick_has_its_figures(attachments_result: dict[str, Any]) -> None:
    r = attachments_result
    assert set(r["stores"]) == {"local", "s3"}
    for name, store in r["stores"].items():
        assert "error" not in store, store.get("error")
        assert store["alive"]
        steps = store["steps"]
        assert [s["file_bytes"] for s in steps] == [
            m * 2**20 for m in attachments.QUICK["sizes_mib"]
        ]
        for s in steps:
            assert s["stored"] == s["files"] == attachments.QUICK["files"], s["refusals"]
            for key in ("rss_before_bytes", "rss_peak_bytes", "rss_after_bytes", "upload_s"):
                assert _number(s[key]) and s[key] > 0, key
            assert s["rss_peak_bytes"] >= s["rss_before_bytes"] - 2**20
            assert s["curve"] and s["uploads_to_s"] > s["uploads_from_s"]
        assert r["goals"][name].keys() >= {"bound_bytes", "growth_peak_bytes", "met"}
    json.dumps(r)


def test_report_renders_the_page_and_plots(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    relay_result: dict[str, Any],
    idle_result: dict[str, Any],
    contact_center_result: dict[str, Any],
    attachments_result: dict[str, Any],
    abuse_result: dict[str, Any],
    sockets_result: dict[str, Any],
) -> None:
    measured = {"gateway": relay_result["systems"]["gateway"], "commit": "abc1234"}
    for name, result in (
        ("relay", relay_result),
        ("sockets", sockets_result),
        ("profile-before", measured),
        ("profile-after", measured),
        ("idle", idle_result),
        ("contact-center", contact_center_result),
        ("attachments", attachments_result),
        ("abuse", abuse_result),
    ):
        (tmp_path / f"{name}.json").write_text(json.dumps({"date": "today", **result}))
    monkeypatch.setattr(report, "QUICK_DIR", tmp_path)
    written = report.render(quick=True)
    page = (tmp_path / "benchmarks.md").read_text()
    assert written[0] == tmp_path / "benchmarks.md"
    for heading in (
        "## The machine",
        "## Goals",
        "## Relay",
        "## Idle",
        "## Contact center",
        "## Attachments",
        "## Abuse",
        "### The hot path, before and after",
        "### The socket layer alone",
    ):
        assert heading in page
    assert "After ÷ before, sustained rate: **1.00x**" in page
    assert "Starlette/uvicorn ÷ websockets: CPU per frame" in page
    assert "The gateway's path ÷ websockets: CPU per frame" in page
    assert "**What was chosen with these numbers**" in page
    assert "server RSS flat (local)" in page and "server RSS flat (s3)" in page
    assert "relay throughput ≥ 3x python-socketio" not in page  # no sio in the smoke
    assert "relay throughput ≥ 0.8x bare websockets" in page
    # the fixed rate's steps, and the goal read off their median one
    assert "3 steps one after another: p99 visitor→agent" in page
    assert "(median of 3 steps)" in page
    assert "](benchmarks-contact-center.md)" in page
    pngs = [p for p in written if p.suffix == ".png"]
    pytest.importorskip("matplotlib")
    assert {p.name for p in pngs} >= {"relay-latency.png", "idle-rss.png", "attachments-rss.png"}


@pytest.mark.apart
def test_the_command_line_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "idle.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "idle", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["workload"] == "idle" and data["quick"] is True
    # stamped with its start (bench.header): the page lists each run by its date
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", data["date"])
    assert _number(data["rss_per_conn_bytes"])
    assert "KiB/conn" in proc.stdout


def test_percentile_counts_losses_as_late() -> None:
    values = [*sorted([1.0] * 98 + [2.0]), math.inf]
    assert percentile(values, 50) == 1.0
    assert percentile(values, 99) == 2.0
    assert percentile([*values, math.inf], 99) == math.inf


@pytest.mark.apart
def test_automations_quick_run_measures_each_receiver() -> None:
    from bench import automations

    result = automations.run(True)
    assert set(result["conditions"]) == {"none", "fast", "slow", "down"}
    for v in result["conditions"].values():
        assert _number(v["p99_ms_median"]) and v["lost"] == 0
    runs = {r["condition"]: r for r in result["runs"]}
    # the fast receiver got every event; nothing reached one that is down
    assert runs["fast"]["webhook_requests_received"] == runs["fast"]["outbox"]["sent"] > 0
    assert runs["fast"]["outbox"]["pending"] == 0
    assert runs["down"]["outbox"]["sent"] == 0 and runs["down"]["outbox"]["pending"] > 0
    assert runs["none"]["outbox"] == {}
    section = automations.report_section(result)
    assert "receiver down" in section and "Goal:" in section
    # the receiver's trouble is also measured against a healthy receiver, round by round
    assert _number(result["conditions"]["slow"]["p99_ratio_to_fast"])
    assert result["conditions"]["fast"]["p99_ratio_to_fast"] == 1.0
    assert "receiver's trouble alone" in section


@pytest.mark.apart
def test_webhooks_quick_has_its_figures() -> None:
    from bench import webhooks

    r = webhooks.run(quick=True)
    assert r["webhooks"] == 10 and r["replies"] == 5
    for key in ("webhooks_per_s", "webhook_p50_ms", "webhook_p99_ms", "replies_per_s"):
        assert _number(r[key]) and r[key] > 0, key


@pytest.mark.apart
def test_appends_quick_compares_the_batched_path_with_one_statement_each() -> None:
    from bench import appends

    result = appends.run(quick=True)
    # the benches' server, a durable one, a durable one with commit_delay
    assert set(result["servers"]) == {"bench", "durable", "durable_group_commit"}
    assert result["servers"]["durable"]["settings"]["synchronous_commit"] == "on"
    for server in result["servers"].values():
        for mode in ("batched", "one_statement_each"):
            figures = server["medians"][mode]
            assert figures["wall_us_per_msg"] > 0 and figures["client_cpu_us_per_msg"] >= 0
        assert set(server["one_statement_each_over_batched"]) == {
            "client_cpu_us_per_msg",
            "postgres_cpu_us_per_msg",
            "wall_us_per_msg",
        }
    assert "one statement each / batched" in appends.summary(result)


@pytest.mark.apart
def test_sqlite_appends_quick_measures_both_checkouts(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import sqlite_appends

    # the same checkout as "other": the A/B machinery, not a comparison
    monkeypatch.setenv("BENCH_GATEWAY_SOURCE", str(Path(sqlite_appends.__file__).parents[1]))
    result = sqlite_appends.run(quick=True)
    modes = {"concurrent", "one_caller", "sqlite_alone_concurrent", "sqlite_alone_one_caller"}
    for name in ("this", "other"):
        assert set(result["medians"][name]) == modes
        for mode in modes:
            figures = result["medians"][name][mode]
            assert figures["wall_us_per_msg"] > 0 and figures["cpu_us_per_msg"] > 0
    assert set(result["other_over_this"]) == modes
    assert "other / this" in sqlite_appends.summary(result)
