"""Held conversations, the contact ending a conversation, and "can anyone answer now?"
(docs/routing.md: "Held conversations", "The contact ends", "Availability")."""

from __future__ import annotations

import pytest

from routing import (
    Assign,
    Assigned,
    AutoReply,
    Calendar,
    Closed,
    Condition,
    ContactEnded,
    ConversationArrived,
    Ended,
    FlowConfig,
    InboxVisibility,
    Offered,
    OfferWithdrawn,
    Outcome,
    Queued,
    Requeued,
    RoutingError,
    Rule,
    SendToInbox,
    Tick,
    TouchpointUpserted,
    WrapUp,
    digest,
    export_snapshot,
    restore_snapshot,
)
from routing.flow import CompiledFlow

from .support import T0, check_invariants, kinds, only, world

# 2023-11-14 22:13:20 UTC is a Tuesday, 23:13 in Paris.
PARIS = Calendar("Europe/Paris", {"mon": ["09:00-18:00"], "wed": ["09:00-12:00", "14:00-18:00"]})
WED_9_PARIS = 1_700_035_200.0  # Wednesday 2023-11-15 09:00 in Paris (08:00 UTC)


def closed_hold_world(**kw: object):  # type: ignore[no-untyped-def]
    r = world(**kw)  # type: ignore[arg-type]
    r.handle(
        TouchpointUpserted(
            "shop",
            "chat",
            "flow",
            ["sales"],
            flow=FlowConfig(
                rules=[
                    Rule(
                        Condition(open=False),
                        Outcome(acceptance="hold", auto_reply="We are closed."),
                        "closed",
                    )
                ],
                calendar=PARIS,
            ),
        ),
        T0,
    )
    return r


# -- held conversations ---------------------------------------------------------------------


def test_a_closed_hours_rule_holds_the_conversation_instead_of_ringing() -> None:
    r = closed_hold_world(available=["ann", "bob"])
    out = r.handle(ConversationArrived("c1", "shop", "chat"), T0 + 1)  # Tuesday night
    assert out[0] == Queued("c1", ["sales"], 0, "hold", "flow", "closed")
    assert not only(out, Offered) and not only(out, Assigned)
    assert AutoReply("c1", "We are closed.") in out
    assert r.conversation("c1").state == "waiting" and r.inbox_for("ann") == ["c1"]
    # Time passes and agents come and go: it is never rung, only taken.
    r.handle(Tick(), T0 + 3600)
    assert r.offers_to("ann") == [] and r.offers_to("bob") == []
    out = r.handle(Assign("c1", "ann"), T0 + 3601)
    assert out[-1] == Assigned("c1", "ann", 25, "assign")
    # Sent back, it is held still: in the Inbox, ringing no one.
    out = r.handle(SendToInbox("c1", "ann"), T0 + 3602)
    assert kinds(out) == ["Requeued", "InboxVisibility"]
    check_invariants(r)


def test_in_opening_hours_the_same_touchpoint_rings() -> None:
    r = closed_hold_world(available=["ann"])
    out = r.handle(ConversationArrived("c1", "shop", "chat"), WED_9_PARIS + 60)
    assert out[0].acceptance == "manual" and only(out, Offered)[0].agent_id == "ann"


def test_a_left_message_is_held_without_an_automatic_reply() -> None:
    r = world(available=["ann"])  # vip's default outcome has an automatic reply
    out = r.handle(ConversationArrived("m1", "vip", "chat", hold=True), T0 + 1)
    assert out == [
        Queued("m1", ["sales"], 0, "hold", "flow"),
        InboxVisibility("m1", True, ["sales"], 0, T0 + 1),
    ]
    assert r.inbox_for("ann") == ["m1"] and r.offers_to("ann") == []


def test_a_held_conversation_survives_snapshot_and_restore_held() -> None:
    r = world(available=["ann"])
    r.handle(ConversationArrived("m1", "vip", "chat", hold=True), T0 + 1)
    again = restore_snapshot(export_snapshot(r))
    assert digest(again) == digest(r)
    assert again.handle(Tick(), T0 + 500) == [] and again.offers_to("ann") == []
    assert again.conversation("m1").acceptance == "hold"


def test_an_arrival_without_hold_encodes_as_before() -> None:
    import msgspec

    data = msgspec.json.encode(ConversationArrived("c1", "web", "chat"))
    assert (
        data
        == b'{"type":"ConversationArrived","conversation_id":"c1","touchpoint_id":"web","channel":"chat"}'
    )


# -- the contact ends ---------------------------------------------------------------------------


def test_the_contact_ends_a_waiting_conversation_it_closes_without_wrap_up() -> None:
    r = world()
    r.handle(ConversationArrived("c1", "web", "chat"), T0 + 1)  # nobody available
    out = r.handle(ContactEnded("c1"), T0 + 2)
    assert out == [
        InboxVisibility("c1", False, ["sales"], 0, T0 + 1),
        Closed("c1", "", "", None, "contact"),
    ]
    assert r.conversation("c1") is None and r.waiting_count() == 0
    check_invariants(r)


def test_the_contact_ends_while_it_rings_the_offer_is_withdrawn() -> None:
    r = world(available=["ann"])
    r.handle(ConversationArrived("c1", "web", "chat"), T0 + 1)
    assert r.offers_to("ann") == ["c1"]
    out = r.handle(ContactEnded("c1"), T0 + 2)
    assert out[0] == OfferWithdrawn("c1", "ann", "contact_ended")
    assert out[-1] == Closed("c1", "", "", None, "contact")
    assert r.agent("ann").reserved_points == 0 and r.agent("ann").capacity_left == 100
    check_invariants(r)


def test_an_idle_assigned_conversation_ends_and_frees_the_points() -> None:
    r = world(available=["ann"])
    r.handle(ConversationArrived("c1", "auto", "chat"), T0)  # support: nobody... bob?
    r.handle(ConversationArrived("c2", "web", "chat"), T0 + 1)
    r.handle(Assign("c2", "ann"), T0 + 2)
    assert r.agent("ann").load_points == 25
    out = r.handle(ContactEnded("c2", "idle"), T0 + 900)
    assert out == [Ended("c2", "ann", "idle")]
    assert r.agent("ann").load_points == 0 and r.conversation("c2").state == "wrapup"
    # The agent wraps it up as usual; ending it again is refused and changes nothing.
    before = export_snapshot(r)
    with pytest.raises(RoutingError) as err:
        r.handle(ContactEnded("c2"), T0 + 901)
    assert err.value.code == "already_ended" and export_snapshot(r) == before
    assert r.handle(WrapUp("c2", "ann", "left"), T0 + 902)[0] == Closed("c2", "ann", "left", None)


def test_the_freed_agent_takes_the_next_waiting_conversation() -> None:
    r = world(available=["ann"])
    for i in range(5):
        r.handle(ConversationArrived(f"c{i}", "web", "chat"), T0 + i)
        if r.offers_to("ann"):
            from routing import Accept

            r.handle(Accept(f"c{i}", "ann"), T0 + i)
    assert r.agent("ann").load_points == 100 and r.conversation("c4").state == "waiting"
    out = r.handle(ContactEnded("c0", "idle"), T0 + 10)
    assert out[0] == Ended("c0", "ann", "idle") and Offered("c4", "ann", T0 + 40, 25) in out


def test_requeued_reason_is_unchanged_by_the_new_events() -> None:
    r = world(available=["ann"])
    r.handle(ConversationArrived("c1", "web", "chat"), T0)
    r.handle(Assign("c1", "ann"), T0 + 1)
    out = r.handle(SendToInbox("c1", "ann"), T0 + 2)
    assert out[0] == Requeued("c1", "ann", ["sales"], "sent_to_inbox")


def test_unknown_conversation() -> None:
    with pytest.raises(RoutingError) as err:
        world().handle(ContactEnded("nope"), T0)
    assert err.value.code == "unknown_conversation"


# -- availability -------------------------------------------------------------------------------


def test_availability_says_who_could_answer() -> None:
    r = world()
    a = r.availability("web", T0)
    assert (a.agents_available, a.room, a.open, a.acceptance) == (False, False, None, "manual")
    assert a.queue_ids == ["sales"]
    from routing import AgentStatusChanged

    r.handle(AgentStatusChanged("ann", "away"), T0)
    assert not r.availability("web", T0).agents_available  # away is not available
    r.handle(AgentStatusChanged("ann", "available"), T0)
    a = r.availability("web", T0)
    assert a.agents_available and a.room
    # ann fills up: still available, but no room now.
    from routing import Accept

    for i in range(4):
        r.handle(ConversationArrived(f"c{i}", "web", "chat"), T0 + i)
        r.handle(Accept(f"c{i}", "ann"), T0 + i)
    a = r.availability("web", T0 + 10)
    assert a.agents_available and not a.room
    # Another touchpoint's queue has nobody: support (cat, bob) are offline.
    assert not r.availability("auto", T0).agents_available


def test_availability_of_a_closed_flow_tells_the_next_opening() -> None:
    r = closed_hold_world(available=["ann"])
    a = r.availability("shop", T0)  # Tuesday 23:13 Paris
    assert a.open is False and a.acceptance == "hold" and a.agents_available
    assert a.opens_at == WED_9_PARIS
    a = r.availability("shop", WED_9_PARIS + 60)
    assert a.open is True and a.opens_at is None and a.acceptance == "manual"
    # Between the two spans on Wednesday: the afternoon's start.
    assert r.availability("shop", WED_9_PARIS + 3.5 * 3600).opens_at == WED_9_PARIS + 5 * 3600
    with pytest.raises(RoutingError):
        r.availability("nope", T0)


def test_next_open_skips_closed_dates_and_knows_daylight_saving() -> None:
    cal = Calendar("Europe/Paris", {"mon": ["09:00-10:00"]}, closed_dates=["2024-03-25"])
    flow = CompiledFlow(FlowConfig(calendar=cal), ("q",))
    sat = 1_711_152_000.0  # 2024-03-23 00:00 UTC, before the switch to summer time
    # Monday 25 is closed; Monday 1 April, 09:00 CEST = 07:00 UTC.
    assert flow.next_open(sat) == 1_711_954_800.0
    assert CompiledFlow(FlowConfig(calendar=Calendar("UTC")), ()).next_open(sat) is None
    assert CompiledFlow(FlowConfig(), ()).next_open(sat) is None
