"""The relay's ratios, goals and page sections from figures made up here (pure logic:
the figures themselves come from ``./scripts/bench relay``, never from a test)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import relay, relay_page, report
from bench.pinning import Placement, placement


def _system(rate: int, cpu: float, by: dict[str, float] | None = None) -> dict[str, Any]:
    step = {
        "offered_msgs_per_s": rate,
        "delivered_msgs_per_s": rate,
        "p50_ms": 1.0,
        "p99_ms": 10.0,
        "lost": 0,
        "server_cpu_us_per_msg": cpu,
        "server_cpu_utilisation": 0.5,
    }
    return {
        "steps": [step],
        "sustained_msgs_per_s": rate,
        "p50_ms_at_sustained": 1.0,
        "p99_ms_at_sustained": 10.0,
        "server_cpu_us_per_msg": cpu,
        "server_cpu_us_per_msg_at_sustained": cpu,
        "cpu_us_per_msg_by_process": by or {"node": cpu},
        "generator_busy_at_sustained": 0.2,
        "knee": {"found": True, "why": "p99", "generator_bound": False},
    }


def _result() -> dict[str, Any]:
    off = _system(2_500, 380.0)
    off["steps"].insert(0, {**_system(2_000, 370.0)["steps"][0]})
    systems = {
        "gateway": _system(2_000, 400.0),
        "gateway-nolimits": off,
        "gateway-2n": _system(
            3_000,
            900.0,
            {"node A": 300.0, "node B": 300.0, "PostgreSQL": 250.0, "Redis": 50.0},
        ),
        "ws": _system(16_000, 20.0),
        "sio": _system(1_000, 600.0, {"node A": 280.0, "node B": 280.0, "Redis": 40.0}),
    }
    systems["ws"]["knee"] = {"found": False, "why": "time budget (40 s) spent before the knee"}
    result: dict[str, Any] = {
        "config": relay.QUICK,
        "body_bytes": 100,
        "p99_limit_ms": 250.0,
        "placement": Placement(frozenset({0}), 1, "servers on core 0, generators on 1").as_json(),
        "loadavg": {"start": [1.0, 0.5, 0.25], "end": [2.0, 1.0, 0.5]},
        "systems": systems,
    }
    result.update(relay.ratios(systems))
    return result


def test_ratios_and_issue_18_goals() -> None:
    r = _result()
    assert r["gateway_2n_to_sio_ratio"] == 3.0
    assert r["gateway_to_ws_ratio"] == 0.125
    # a peer without a knee makes the ratio a bound, and the note says so
    assert "ws: no knee" in r["gateway_to_ws_ratio_note"]
    goals = r["goals"]
    assert goals["gateway_2n_3x_sio_2n"]["met"] is True
    assert goals["gateway_quarter_of_ws"]["met"] is False
    one_core = goals["gateway_10000_msgs_per_s_one_core"]
    assert one_core["msgs_per_s"] == 2_000 and one_core["met"] is False
    limits = r["rate_limits"]
    assert limits["on_to_off_ratio"] == 0.8 and limits["cpu_us_per_msg_added"] == 20.0
    # at a rate both relayed (the off run's extra, higher rate is left out)
    assert limits["same_rates"] == [2_000]
    assert limits["cpu_us_per_msg_added_same_rates"] == 30.0


def test_ratios_leave_out_what_was_not_run() -> None:
    systems = {"gateway": _system(2_000, 400.0), "ws": _system(16_000, 20.0)}
    r = relay.ratios(systems)
    assert "gateway_2n_to_sio_ratio" not in r and "rate_limits" not in r
    assert set(r["goals"]) == {"gateway_quarter_of_ws", "gateway_10000_msgs_per_s_one_core"}


def test_the_page_renders_the_new_rows() -> None:
    r = _result()
    r["label"] = "Measured on a loaded machine: not the published figure."
    page = relay_page.section(r)
    assert page.startswith("**Measured on a loaded machine: not the published figure.**")
    assert "gateway x2 + Redis + PostgreSQL" in page
    assert "Two gateway nodes + Redis + PostgreSQL ÷ python-socketio's two nodes" in page
    assert "**3.00x**" in page
    assert "at the start of the run 1.00 / 0.50 / 0.25, at its end 2.00 / 1.00 / 0.50" in page
    # the split per process, for both two-node systems, and not for one-process ones
    assert "| gateway x2 + Redis + PostgreSQL | PostgreSQL | 250 | 28 % |" in page
    assert "| python-socketio x2 + Redis | Redis | 40 | 7 % |" in page
    assert "| websockets (bare) | node |" not in page
    # what the rate limits cost
    assert "On ÷ off, sustained rate: **0.80x**" in page
    assert "CPU added per message: **20.0 µs**" in page
    assert "**30.0 µs** at the rates both relayed (2,000 msg/s" in page
    rows = relay_page.goal_rows(r)
    assert [row[2] for row in rows] == ["**met**", "**not met**", "**not met**"]
    assert "ws: no knee" in rows[1][1]
    where = relay_page.pinning(r)
    assert where.startswith("**Pinning.** Where the processes ran in this run: ")


def test_the_page_names_the_steps_run_twice() -> None:
    r = _result()
    assert "No step was run twice in this run." in relay_page.section(r)
    for name, p99 in (("gateway", None), ("gateway-2n", 300.0)):
        steps = r["systems"][name]["steps"]
        steps.insert(0, {**steps[0], "p99_ms": p99, "repeated": True})
    page = relay_page.section(r)
    assert (
        "Run twice in this run: gateway at 2,000 msg/s (p99 over 1 % lost, then 10.0 ms); "
        "gateway-2n at 3,000 msg/s (p99 300.0 ms, then 10.0 ms)." in page
    )
    # every step's row: the first run is named
    assert "| gateway | 2,000 (run again) | 2,000 | 1.00 | — |" in page


def test_the_page_says_when_nothing_held_down_to_the_floor() -> None:
    r = _result()
    r["systems"]["sio"].update(sustained_msgs_per_s=0)
    r["systems"]["sio"]["knee"] = {"found": True, "why": "throughput", "lowest_offered": 38}
    page = relay_page.section(r)
    assert "delivered < 90 % of offer, at every rate down to 38 msg/s |" in page
    assert "offered half of it, then half again, down to an eighth" in page


def test_a_run_before_issue_18_renders_without_the_new_rows() -> None:
    r = _result()
    for key in ("placement", "rate_limits", "gateway_2n_to_sio_ratio"):
        r.pop(key)
    for s in r["systems"].values():
        s.pop("cpu_us_per_msg_by_process")
        s.pop("server_cpu_us_per_msg_at_sustained")
    page = relay_page.section(r)
    assert "No CPU split per process in this run" in page
    assert "its gateway ran with every limiter off" in page
    # CPU at the knee is read off the steps
    assert "| 2,000 | 1.00 | 10.0 | 400 | 400 |" in page
    assert "In this run the servers were not pinned" in relay_page.pinning(r)


def test_placement_pins_servers_and_generators_apart() -> None:
    on, off = placement(True), placement(False)
    if on.servers is None:  # one core or no sched_setaffinity: it says so
        assert on.note.startswith("not pinned")
        return
    assert on.generator is not None and on.generator not in on.servers
    assert off.servers is None and off.generator == on.generator


def test_the_full_run_is_bounded_by_its_budgets() -> None:
    bound = relay.full_run_bound_s(relay.FULL, len(relay.SYSTEMS))
    # seven systems, each at most its setup, its 75 s ramp, two refining steps and two
    # steps run again
    assert len(relay.SYSTEMS) == 7
    assert 7 * 75 < bound < 30 * 60


def test_bench_pin_0_leaves_the_servers_unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PIN", "0")
    assert placement().servers is None
    monkeypatch.setenv("BENCH_PIN", "1")
    assert placement().servers == placement(True).servers


def test_profile_layers_charge_each_sample_to_its_innermost_layer() -> None:
    from bench.relay_profile import layers

    collapsed = "\n".join(
        [
            # the store's statement inside the handling: SQLite's
            "run (asyncio/runners.py:1);_read_frames (gateway/web/sockets.py:2);"
            "_append_one (gateway/ports/store/_group_commit.py:3);"
            "SyncConn.fetchrow (gateway/ports/store/_sqlite_lane.py:4) 3",
            # the handling's own line
            "run (asyncio/runners.py:1);_read_frames (gateway/web/sockets.py:2) 1",
            "Runner.run (asyncio/runners.py:1) 1",
            "something (elsewhere.py:1) 5",
            "not a sample line",
        ]
    )
    shares = {r["layer"]: r["share_pct"] for r in layers(collapsed)}
    assert shares == {
        "other": 50.0,
        "SQLite calls (binding, rows: a statement itself runs without the GIL)": 30.0,
        "the message's handling (sessions, services, checks)": 10.0,
        "the event loop, uvicorn": 10.0,
    }


def test_the_profile_section_says_whether_the_cpu_was_the_limit() -> None:
    r = _result()
    gw = r["systems"]["gateway"]  # 2,000 msg/s at 400 µs: 0.80 of the one core
    gw["saturated"] = True
    limit = "The CPU was the limit"
    assert "0.80 cores at that rate, of the 1 it could run on, so it saturated with CPU to " in (
        report._profile(r)
    )
    gw["steps"][0]["server_cpu_us_per_msg"] = 500.0  # 1.00 core
    assert limit in report._profile(r)


def test_the_page_says_which_message_ids_the_clients_sent() -> None:
    r = _result()
    assert "sent message ids of about 8 characters" in relay_page.section(r)
    r["client_msg_ids"] = "uuid7"
    page = relay_page.section(r)
    assert "send UUIDv7 message ids, 36 characters" in page
    assert "about 8 characters" not in page


def test_the_floor_of_durability_is_read_beside_the_gateway_at_the_rates_both_had() -> None:
    gw, floor = _system(5000, 200.0), _system(8000, 100.0)
    gw["steps"].insert(
        0, {**gw["steps"][0], "offered_msgs_per_s": 1000, "server_cpu_us_per_msg": 450.0}
    )
    floor["steps"].insert(
        0, {**floor["steps"][0], "offered_msgs_per_s": 1000, "server_cpu_us_per_msg": 300.0}
    )
    floor["steps"].insert(
        1, {**floor["steps"][0], "offered_msgs_per_s": 5000, "server_cpu_us_per_msg": 160.0}
    )
    data = {"systems": {"gateway": gw, "ws-sqlite": floor, "ws": _system(32000, 30.0)}}
    text = relay_page.durability_floor(data)
    assert "8,000 msg/s at 100 µs" in text and "(0.250x the bare relay)" in text
    assert "0.625x the floor's rate" in text
    # 450 ÷ 300 and 200 ÷ 160, at 1,000 and 5,000 msg/s: 150 and 40 µs more
    assert "At the 2 rates both were offered (1,000 to 5,000 msg/s)" in text
    assert "1.25 to 1.50 times the floor's, 40 to 150 µs more" in text
    # without the floor in the run, nothing is said
    assert relay_page.durability_floor({"systems": {"gateway": gw}}) == ""
