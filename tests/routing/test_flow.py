"""Flow rules and the calendar."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from routing import Calendar, Condition, FlowConfig, Outcome, Rule
from routing.errors import InvalidFlow
from routing.flow import CompiledFlow, Routing, bucket


def ts(text: str) -> float:
    """An aware ISO time → the float the gateway passes as ``now``."""
    return dt.datetime.fromisoformat(text).timestamp()


PARIS = Calendar(
    "Europe/Paris",
    {"mon": ["09:00-12:30", "13:30-18:00"], "sat": ["10:00-24:00"]},
    closed_dates=["2025-12-25"],
)
FLOW = FlowConfig(
    rules=[
        Rule(Condition(open=False), Outcome(["night"], auto_reply="We open at 9."), "closed"),
        Rule(
            Condition(fields={"topic": ["Billing", "invoice"]}), Outcome(["billing"], 2), "billing"
        ),
        Rule(
            Condition(channels=["whatsapp"], touchpoint_ids=["wa-fr"]),
            Outcome(acceptance="auto"),
            "wa",
        ),
    ],
    default=Outcome(priority=1),
    calendar=PARIS,
)
MONDAY_10_PARIS = "2025-12-08T10:00:00+01:00"


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        ("2025-12-08T10:00:00+01:00", True),  # Monday morning in Paris
        ("2025-12-08T09:00:00+00:00", True),  # 10:00 in Paris, said in UTC
        ("2025-12-08T08:59:00+01:00", False),  # before opening
        ("2025-12-08T12:30:00+01:00", False),  # lunch: the end is exclusive
        ("2025-12-08T13:30:00+01:00", True),
        ("2025-12-09T10:00:00+01:00", False),  # Tuesday: no hours at all
        ("2025-12-13T23:59:00+01:00", True),  # Saturday until 24:00
        ("2025-12-13T23:30:00+00:00", False),  # that is Sunday 00:30 in Paris
        ("2025-07-07T09:30:00+02:00", True),  # summer time: CEST
        ("2025-07-07T07:30:00+00:00", True),  # 09:30 CEST
        ("2025-07-07T06:30:00+00:00", False),  # 08:30 CEST
        ("2025-12-22T10:00:00+01:00", True),
        ("2025-12-25T10:00:00+01:00", False),  # a closed date (a Thursday anyway)
    ],
)
def test_opening_hours_are_read_in_the_calendars_time_zone(when: str, is_open: bool) -> None:
    flow = CompiledFlow(
        FlowConfig(rules=[Rule(Condition(open=True), Outcome(["open"]))], calendar=PARIS), ("tp",)
    )
    assert flow.route("t", "chat", {}, ts(when)).queue_ids == (("open",) if is_open else ("tp",))


def test_closed_dates_close_the_whole_day() -> None:
    cal = Calendar("Europe/Paris", {"thu": ["00:00-24:00"]}, ["2025-12-25"])
    flow = CompiledFlow(
        FlowConfig(rules=[Rule(Condition(open=False), Outcome(["shut"]))], calendar=cal), ()
    )
    assert flow.route("t", "chat", {}, ts("2025-12-25T10:00:00+01:00")).queue_ids == ("shut",)
    assert flow.route("t", "chat", {}, ts("2026-01-01T10:00:00+01:00")).queue_ids == ()


@pytest.mark.parametrize(
    ("touchpoint", "channel", "fields", "when", "expected"),
    [
        ("web", "chat", {}, MONDAY_10_PARIS, Routing(("sales",), 1)),
        (
            "web",
            "chat",
            {"topic": " billing "},
            MONDAY_10_PARIS,
            Routing(("billing",), 2, rule="billing"),
        ),
        (
            "web",
            "chat",
            {"topic": "INVOICE"},
            MONDAY_10_PARIS,
            Routing(("billing",), 2, rule="billing"),
        ),
        ("web", "chat", {"topic": "sales"}, MONDAY_10_PARIS, Routing(("sales",), 1)),
        ("wa-fr", "whatsapp", {}, MONDAY_10_PARIS, Routing(("sales",), 0, "auto", rule="wa")),
        ("wa-de", "whatsapp", {}, MONDAY_10_PARIS, Routing(("sales",), 1)),
        # first match wins: at night even billing goes to the night queue
        (
            "web",
            "chat",
            {"topic": "billing"},
            "2025-12-08T22:00:00+01:00",
            Routing(("night",), 0, "manual", "We open at 9.", "closed"),
        ),
    ],
)
def test_rules_choose_queue_priority_acceptance_and_reply(
    touchpoint: str, channel: str, fields: dict[str, str], when: str, expected: Routing
) -> None:
    assert CompiledFlow(FLOW, ("sales",)).route(touchpoint, channel, fields, ts(when)) == expected


def test_the_gateway_can_store_a_flow_as_json() -> None:
    stored = msgspec.json.decode(msgspec.json.encode(FLOW))
    assert isinstance(stored, dict)
    assert msgspec.convert(stored, FlowConfig) == FLOW


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (FlowConfig(calendar=Calendar("Mars/Olympus")), "time zone"),
        (FlowConfig(calendar=Calendar("UTC", {"mon": ["9-17"]})), "opening hours"),
        (FlowConfig(calendar=Calendar("UTC", {"mon": ["17:00-09:00"]})), "end before"),
        (FlowConfig(calendar=Calendar("UTC", {"mon": ["09:00-25:00"]})), "opening hours"),
        (FlowConfig(calendar=Calendar("UTC", closed_dates=["25/12/2025"])), "closed date"),
        (FlowConfig(rules=[Rule(Condition(open=True))]), "no calendar"),
        (FlowConfig(rules=[Rule(Condition(share=[50]))]), "share is [start, end]"),
        (FlowConfig(rules=[Rule(Condition(share=[30, 30]))]), "share is [start, end]"),
        (FlowConfig(rules=[Rule(Condition(share=[-1, 50]))]), "share is [start, end]"),
        (FlowConfig(rules=[Rule(Condition(share=[50, 101]))]), "share is [start, end]"),
    ],
)
def test_bad_flows_are_refused_at_configuration(flow: FlowConfig, message: str) -> None:
    with pytest.raises(InvalidFlow) as err:
        CompiledFlow(flow, ())
    assert err.value.code == "invalid_flow" and message in err.value.message


def test_unknown_keys_and_weekdays_are_refused_by_the_schema() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"rules": [], "defaults": {}}, FlowConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"calendar": {"timezone": "UTC", "hours": {"monday": []}}}, FlowConfig)


SPLIT = FlowConfig(
    rules=[
        Rule(Condition(share=[0, 30]), Outcome(["trial"]), "trial"),
        Rule(Condition(share=[30, 100], fields={"plan": ["gold"]}), Outcome(["gold"]), "gold"),
    ],
    default=Outcome(["sales"]),
)


def test_a_share_splits_the_traffic_by_the_conversations_id() -> None:
    flow = CompiledFlow(SPLIT, ("sales",))
    ids = [f"cv_{i:05d}" for i in range(3000)]
    chosen = [flow.route("web", "chat", {}, 0.0, cid).rule for cid in ids]
    trial = chosen.count("trial")
    # about 30 % (a hash, not a counter: within a few points at 3,000)
    assert 0.26 * len(ids) < trial < 0.34 * len(ids)
    assert set(chosen) == {"trial", None}  # the rest: no plan, so not gold: the default
    # the same id always takes the same branch, whatever else the rule asks
    for cid in ids[:200]:
        first = flow.route("web", "chat", {"plan": "gold"}, 0.0, cid)
        again = flow.route("web", "chat", {"plan": "gold"}, 99.0, cid)
        assert first == again
        assert first.rule == ("trial" if bucket(cid) < 30 else "gold")
    # a would-be arrival (availability, before there is a conversation) is bucket 0
    assert bucket("") == 0 and flow.route("web", "chat", {}, 0.0).rule == "trial"


def test_a_route_hashes_the_id_once_and_only_when_a_rule_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import routing.flow

    hashed: list[str] = []
    real = routing.flow.bucket

    def counted(key: str) -> int:
        hashed.append(key)
        return real(key)

    monkeypatch.setattr(routing.flow, "bucket", counted)
    flow = CompiledFlow(SPLIT, ("sales",))
    cid = next(c for c in (f"cv_{i}" for i in range(100)) if real(c) >= 30)
    assert flow.route("web", "chat", {}, 0.0, cid).rule is None  # past both share rules
    assert hashed == [cid]
    hashed.clear()
    plain = CompiledFlow(FlowConfig(rules=[Rule(Condition(channels=["sms"]), Outcome(["x"]))]), ())
    plain.route("web", "chat", {}, 0.0, cid)
    assert hashed == []


def test_the_bucket_is_the_same_in_every_process() -> None:
    # a salted hash would differ between nodes and rebuilds: these are fixed
    assert [bucket(k) for k in ("cv_a", "cv_b", "cv_00001")] == [14, 62, 50]
