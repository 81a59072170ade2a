"""Bots before agents, the contact's side closing, and outbound arrivals: table tests of
the router's "bot" state (docs/routing.md, "Bots before agents")."""

from __future__ import annotations

import msgspec
import pytest

from routing import (
    Accept,
    AgentStatusChanged,
    Assign,
    Assigned,
    BotHandover,
    BotReleased,
    Closed,
    Condition,
    ContactEnded,
    ConversationArrived,
    ConversationRestored,
    End,
    Ended,
    FlowConfig,
    InboxVisibility,
    Offered,
    OfferWithdrawn,
    Outcome,
    Queued,
    Router,
    RoutingError,
    Rule,
    Sound,
    Tick,
    TouchpointUpserted,
    WrapUp,
    digest,
    export_snapshot,
    restore_snapshot,
)

from .support import T0, check_invariants, kinds, world

BOT_FLOW = FlowConfig(
    rules=[Rule(Condition(fields={"topic": ["human"]}), Outcome(["sales"], 2), "straight")],
    default=Outcome(["sales"], 1, bot="helper-bot", bot_timeout=120),
)


def bot_world(*available: str) -> Router:
    r = world(available=available)
    r.handle(TouchpointUpserted("botchat", "chat", "flow", ["sales"], flow=BOT_FLOW), T0)
    return r


def refused(r: Router, event: object, code: str, now: float) -> None:
    before = export_snapshot(r)
    with pytest.raises(RoutingError) as err:
        r.handle(event, now)  # type: ignore[arg-type]
    assert err.value.code == code, err.value
    assert export_snapshot(r) == before


def test_a_flow_rule_hands_a_new_conversation_to_a_bot_using_no_capacity() -> None:
    r = bot_world("ann", "bob")
    out = r.handle(ConversationArrived("b1", "botchat", "chat"), T0 + 10)
    assert out == [Queued("b1", ["sales"], 1, "manual", "flow", None, None, "helper-bot", T0 + 130)]
    view = r.conversation("b1")
    assert view is not None and (view.state, view.bot_id, view.bot_until) == (
        "bot",
        "helper-bot",
        T0 + 130,
    )
    # not offered, in nobody's Inbox, not waiting, no capacity used
    assert r.inbox_for("ann") == [] and r.offers_to("ann") == [] and r.waiting_count() == 0
    assert r.agent("ann").capacity_left == 100 and r.agent("bob").capacity_left == 100
    assert not r.can_see("ann", "b1") and r.can_see("sue", "b1")
    assert r.next_deadline() == T0 + 130
    # a rule without a bot routes straight to the agents
    out = r.handle(ConversationArrived("h1", "botchat", "chat", {"topic": "human"}), T0 + 11)
    assert "Offered" in kinds(out)
    check_invariants(r)


def test_escalation_starts_the_waiting_time_at_the_handover() -> None:
    r = bot_world()
    r.handle(ConversationArrived("b1", "botchat", "chat"), T0 + 10)
    # a conversation that arrives later, but before the handover, is served first
    r.handle(ConversationArrived("w1", "web", "chat"), T0 + 20)
    out = r.handle(BotHandover("b1", "escalated"), T0 + 30)
    assert out == [
        BotReleased("b1", "helper-bot", "escalated", ["sales"], T0 + 30),
        InboxVisibility("b1", True, ["sales"], 1, T0 + 30),
    ]
    assert r.conversation("b1").arrived_at == T0 + 30 and r.waiting_count() == 2
    out = r.handle(AgentStatusChanged("ann", "available"), T0 + 31)
    # b1 has priority 1 over w1's 0: priority first, then the handover time
    assert [d.conversation_id for d in out if isinstance(d, Offered)] == ["b1", "w1"]
    check_invariants(r)


def test_the_oldest_handover_is_served_first_within_a_priority() -> None:
    r = bot_world()
    r.handle(ConversationArrived("b1", "botchat", "chat"), T0 + 1)
    r.handle(ConversationArrived("b2", "botchat", "chat"), T0 + 2)
    r.handle(BotHandover("b2", "contact_asked"), T0 + 3)
    r.handle(BotHandover("b1", "escalated"), T0 + 4)
    assert r.inbox_for("ann") == ["b2", "b1"]  # b2 was handed over first


def test_the_bot_times_out_on_a_tick_and_the_conversation_is_offered() -> None:
    r = bot_world("ann")
    r.handle(ConversationArrived("b1", "botchat", "chat"), T0)
    assert r.handle(Tick(), T0 + 119) == []
    out = r.handle(Tick(), T0 + 120)
    assert out[0] == BotReleased("b1", "helper-bot", "timeout", ["sales"], T0 + 120)
    assert Offered("b1", "ann", T0 + 150, 25) in out
    assert r.next_deadline() == T0 + 150  # the offer's expiry now, not the bot's
    check_invariants(r)


def test_a_handover_to_a_queue_or_to_an_agent() -> None:
    r = bot_world("cat")
    r.handle(ConversationArrived("b1", "botchat", "chat"), T0)
    out = r.handle(BotHandover("b1", "transferred", to_queue_id="support"), T0 + 5)
    assert out[0] == BotReleased("b1", "helper-bot", "transferred", ["support"], T0 + 5)
    assert Offered("b1", "cat", T0 + 35, 25) in out
    r.handle(ConversationArrived("b2", "botchat", "chat"), T0 + 6)
    out = r.handle(BotHandover("b2", "transferred", to_agent_id="cat"), T0 + 7)
    assert out == [
        BotReleased("b2", "helper-bot", "transferred", ["sales"], T0 + 7),
        Assigned("b2", "cat", 25, "transfer"),
        Sound("cat", "transferred", "b2"),
    ]
    check_invariants(r)


def test_handover_refusals_change_nothing() -> None:
    r = bot_world("ann")
    r.handle(ConversationArrived("b1", "botchat", "chat"), T0)
    refused(r, BotHandover("b1", "transferred", to_agent_id="bob"), "agent_unavailable", T0 + 1)
    refused(r, BotHandover("nope", "escalated"), "unknown_conversation", T0 + 1)
    refused(
        r,
        BotHandover("b1", "transferred", to_agent_id="ann", to_queue_id="sales"),
        "invalid_transfer",
        T0 + 1,
    )
    refused(r, Assign("b1", "sue"), "with_bot", T0 + 1)
    refused(r, End("b1", "sue"), "with_bot", T0 + 1)
    out = r.handle(BotHandover("b1", "transferred", to_agent_id="ann"), T0 + 2)
    assert out[1:] == [Assigned("b1", "ann", 25, "transfer"), Sound("ann", "transferred", "b1")]
    refused(r, BotHandover("b1", "escalated"), "not_with_bot", T0 + 3)
    check_invariants(r)


@pytest.mark.parametrize("state", ["bot", "waiting", "offered"])
def test_the_contact_ends_a_conversation_no_agent_holds(state: str) -> None:
    r = bot_world(*(["ann"] if state == "offered" else []))
    tp = "botchat" if state == "bot" else "web"
    r.handle(ConversationArrived("c1", tp, "chat"), T0)
    assert r.conversation("c1").state == state
    out = r.handle(ContactEnded("c1"), T0 + 5)
    assert out[-1] == Closed("c1", "", "", None, "contact")
    if state == "offered":
        assert out[0] == OfferWithdrawn("c1", "ann", "contact_ended")
    if state != "bot":
        assert InboxVisibility("c1", False, ["sales"], 0, T0) in out
    assert r.conversation("c1") is None and r.waiting_count() == 0
    assert r.agent("ann").capacity_left == 100
    check_invariants(r)


def test_the_contact_ending_an_assigned_conversation_ends_it_for_its_agent() -> None:
    r = bot_world("ann")
    r.handle(ConversationArrived("c1", "web", "chat"), T0)
    r.handle(Accept("c1", "ann"), T0 + 1)
    assert r.handle(ContactEnded("c1"), T0 + 2) == [Ended("c1", "ann", "contact")]
    assert r.agent("ann").load_points == 0 and r.conversation("c1").state == "wrapup"
    refused(r, ContactEnded("c1"), "already_ended", T0 + 3)
    assert r.handle(WrapUp("c1", "ann", "gone"), T0 + 4) == [Closed("c1", "ann", "gone", None)]


def test_an_outbound_conversation_is_its_agents_at_once() -> None:
    r = bot_world("ann")
    out = r.handle(ConversationArrived("o1", "botchat", "chat", agent_id="ann"), T0)
    # no bot, no offer: the agent who starts it holds it
    assert out == [
        Queued("o1", ["sales"], 1, "manual", "flow"),
        Assigned("o1", "ann", 25, "outbound"),
    ]
    refused(r, ConversationArrived("o2", "web", "chat", agent_id="bob"), "agent_unavailable", T0)
    refused(r, ConversationArrived("o3", "web", "chat", agent_id="zed"), "unknown_agent", T0)
    for i in range(3):
        r.handle(ConversationArrived(f"f{i}", "web", "chat", agent_id="ann"), T0)
    refused(r, ConversationArrived("o4", "web", "chat", agent_id="ann"), "over_capacity", T0)
    check_invariants(r)


def test_a_bot_conversation_survives_snapshot_and_restore_with_its_deadline() -> None:
    r = bot_world("ann")
    r.handle(ConversationArrived("b1", "botchat", "chat"), T0)
    again = restore_snapshot(export_snapshot(r))
    assert digest(again) == digest(r)
    assert again.conversation("b1") == r.conversation("b1")
    assert again.handle(Tick(), T0 + 120) == r.handle(Tick(), T0 + 120)
    # a conversation restored from the store, with its bot
    fresh = bot_world()
    row = ConversationRestored(
        "b9", "botchat", "chat", "bot", ["sales"], 1, T0, "flow", bot_id="x", bot_until=T0 + 9
    )
    assert fresh.handle(row, T0) == []
    assert fresh.conversation("b9").bot_id == "x" and fresh.next_deadline() == T0 + 9
    refused(
        fresh,
        msgspec.structs.replace(row, conversation_id="b8", bot_id=msgspec.UNSET),
        "invalid_restore",
        T0,
    )


def test_a_snapshot_without_bots_keeps_its_bytes() -> None:
    """The bot fields are left out of the encoding when unset (routing/flow.py UNSET)."""
    plain = msgspec.msgpack.encode(Outcome(["q"]))
    assert b"bot" not in plain
    assert b"bot" in msgspec.msgpack.encode(Outcome(["q"], bot="b"))


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (Outcome(bot=""), "bot names the bot's id"),
        (Outcome(bot_timeout=30), "bot_timeout is for a bot"),
        (Outcome(bot="b", bot_timeout=0), "more than 0"),
        (Outcome(bot="b", bot_timeout=90_000), "at most a day"),
    ],
)
def test_bad_bot_rules_are_refused_at_configuration(outcome: Outcome, message: str) -> None:
    r = world()
    with pytest.raises(RoutingError) as err:
        r.handle(TouchpointUpserted("x", "chat", "flow", flow=FlowConfig(default=outcome)), T0)
    assert err.value.code == "invalid_flow" and message in err.value.message


def test_a_message_left_for_later_goes_to_no_bot() -> None:
    r = bot_world()
    out = r.handle(ConversationArrived("l1", "botchat", "chat", hold=True), T0)
    assert out[0] == Queued("l1", ["sales"], 1, "hold", "flow")
    assert r.conversation("l1").state == "waiting" and r.conversation("l1").bot_id is None
    check_invariants(r)


def test_availability_names_the_bot_an_arrival_would_go_to() -> None:
    r = bot_world()  # no agent available: a bot answers all the same
    a = r.availability("botchat", T0)
    assert (a.bot, a.agents_available) == ("helper-bot", False)
    assert r.availability("botchat", T0, {"topic": "human"}).bot is None
    assert r.availability("web", T0).bot is None
