"""Table-driven tests of each routing rule (docs/routing.md explains them)."""

from __future__ import annotations

import pytest

from routing import (
    Accept,
    AgentRemoved,
    AgentStarted,
    AgentStatusChanged,
    AgentUpserted,
    Assign,
    Assigned,
    AutoReply,
    ChannelWeightChanged,
    Closed,
    ConversationArrived,
    Decision,
    End,
    Ended,
    Event,
    InboxVisibility,
    Offered,
    OfferWithdrawn,
    Queued,
    Reject,
    Requeued,
    Router,
    RouterConfig,
    SendToInbox,
    Sound,
    Tick,
    Transfer,
    WrapUp,
    export_snapshot,
)
from routing.errors import InvalidWeight, OfferExpired, RoutingError

from .support import T0, check_invariants, kinds, only, world


def arrive(r: Router, cid: str, tp: str, t: float, **fields: str) -> list[Decision]:
    channel = {"sms": "sms", "ann-sms": "sms", "phone": "voice"}.get(tp, "chat")
    out = r.handle(ConversationArrived(cid, tp, channel, dict(fields)), t)
    check_invariants(r)
    return out


# ---------------------------------------------------------------------- capacity & weights


@pytest.mark.parametrize(
    ("held", "incoming", "fits"),
    [
        ([], "phone", True),  # voice 51
        (["phone"], "web", True),  # 51 + 25 = 76
        (["phone", "web"], "web", False),  # 76 + 25 = 101
        (["phone"], "phone", False),  # 102
        (["web", "web", "web"], "web", True),  # 100 exactly
        (["web", "web", "web", "web"], "web", False),
    ],
)
def test_an_agent_is_offered_work_only_if_it_fits(
    held: list[str], incoming: str, fits: bool
) -> None:
    r = world(RouterConfig(channel_weights={"chat": 25}), available=["ann"])
    for i, tp in enumerate(held):
        arrive(r, f"h{i}", tp, T0 + i)
        r.handle(Accept(f"h{i}", "ann"), T0 + i)
    out = arrive(r, "new", incoming, T0 + 10)
    assert bool(only(out, Offered)) is fits
    assert r.conversation("new").state == ("offered" if fits else "waiting")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("channel", "weight"),
    [("chat", 0), ("chat", 101), ("sms", -5), ("voice", 50), ("voice", 52), ("chat", True)],
)
def test_weights_outside_the_rules_are_refused(channel: str, weight: int) -> None:
    r = world()
    before = export_snapshot(r)
    with pytest.raises(InvalidWeight) as err:
        r.handle(ChannelWeightChanged(channel, weight), T0)
    assert err.value.code == "invalid_weight"
    assert export_snapshot(r) == before
    with pytest.raises(InvalidWeight):
        Router(RouterConfig(channel_weights={channel: weight}))


def test_voice_is_fixed_at_51_and_weight_changes_are_not_retroactive() -> None:
    r = world(available=["ann"])
    assert r.weight("voice") == 51
    r.handle(ChannelWeightChanged("voice", 51), T0)  # restating it is fine
    arrive(r, "c1", "web", T0)
    r.handle(Accept("c1", "ann"), T0 + 1)
    r.handle(ChannelWeightChanged("chat", 40), T0 + 2)
    assert r.agent("ann").load_points == 25  # type: ignore[union-attr]
    assert r.conversation("c1").weight == 25  # type: ignore[union-attr]
    out = arrive(r, "c2", "web", T0 + 3)
    assert only(out, Offered)[0].weight == 40  # new work takes the new weight
    r.handle(End("c1", "ann"), T0 + 4)
    assert r.agent("ann").load_points == 0  # type: ignore[union-attr]
    assert r.agent("ann").reserved_points == 40  # type: ignore[union-attr]


def test_lowering_a_weight_lets_waiting_work_fit() -> None:
    r = world(RouterConfig(channel_weights={"chat": 60}), available=["ann"])
    arrive(r, "c1", "web", T0)
    r.handle(Accept("c1", "ann"), T0)
    arrive(r, "c2", "web", T0 + 1)
    assert r.conversation("c2").state == "waiting"  # type: ignore[union-attr]
    out = r.handle(ChannelWeightChanged("chat", 40), T0 + 2)
    assert [(o.conversation_id, o.weight) for o in only(out, Offered)] == [("c2", 40)]
    check_invariants(r)


# ---------------------------------------------------------------------- simplified routing


def test_simplified_waits_in_the_inbox_of_its_queues_until_assigned() -> None:
    r = world(available=["ann", "bob", "cat"])
    out = arrive(r, "s1", "sms", T0)
    assert kinds(out) == ["Queued", "InboxVisibility"]  # nobody is rung
    assert out[1] == InboxVisibility("s1", True, ["sales"], 0, T0)
    assert r.inbox_for("ann") == ["s1"] and r.inbox_for("bob") == ["s1"]
    assert r.inbox_for("cat") == [] and r.inbox_for("sue") == ["s1"]  # sue supervises
    assert [r.can_see(a, "s1") for a in ("ann", "bob", "cat", "sue")] == [True, True, False, True]
    with pytest.raises(RoutingError) as err:
        r.handle(Assign("s1", "cat"), T0 + 1)
    assert err.value.code == "not_visible"
    out = r.handle(Assign("s1", "ann"), T0 + 2)
    assert kinds(out) == ["InboxVisibility", "Assigned"]
    assert out[1] == Assigned("s1", "ann", 10, "assign")
    assert r.assigned_to("ann") == ["s1"] and r.inbox_for("bob") == []


def test_two_agents_take_the_same_conversation_one_wins() -> None:
    r = world(available=["ann", "bob"])
    arrive(r, "s1", "sms", T0)
    r.handle(Assign("s1", "bob"), T0 + 1)
    before = export_snapshot(r)
    with pytest.raises(RoutingError) as err:
        r.handle(Assign("s1", "ann"), T0 + 1)
    assert err.value.code == "already_assigned"
    assert "bob" in err.value.message
    assert export_snapshot(r) == before


def test_assign_refused_when_it_does_not_fit_or_the_agent_is_offline() -> None:
    r = world(RouterConfig(channel_weights={"sms": 60}), available=["ann"])
    arrive(r, "s1", "sms", T0)
    arrive(r, "s2", "sms", T0)
    r.handle(Assign("s1", "ann"), T0)
    with pytest.raises(RoutingError) as err:
        r.handle(Assign("s2", "ann"), T0)
    assert err.value.code == "over_capacity"
    with pytest.raises(RoutingError) as err:
        r.handle(Assign("s2", "bob"), T0)  # bob is offline
    assert err.value.code == "agent_unavailable"


# ---------------------------------------------------------------------- dedicated agent


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("available", "assigned"), ("away", "assigned"), ("offline", "waiting")],
)
def test_dedicated_goes_straight_to_its_agent_unless_offline(status: str, outcome: str) -> None:
    r = world()
    r.handle(AgentStatusChanged("ann", status), T0)  # type: ignore[arg-type]
    out = arrive(r, "d1", "ann-sms", T0)
    view = r.conversation("d1")
    assert view is not None and view.dedicated and view.state == outcome
    assert only(out, Queued)[0].dedicated_agent_id == "ann"
    if outcome == "assigned":
        assert kinds(out) == ["Queued", "Assigned", "Sound"]
        assert out[1] == Assigned("d1", "ann", 10, "dedicated", dedicated=True)
        assert out[2] == Sound("ann", "auto_assigned", "d1")
    else:
        assert out[1] == InboxVisibility("d1", True, ["sales"], 0, T0, agent_id="ann")
        assert r.inbox_for("ann") == ["d1"] and r.inbox_for("bob") == []
        assert not r.can_see("bob", "d1") and r.can_see("sue", "d1")
        out = r.handle(AgentStatusChanged("ann", "available"), T0 + 5)
        assert only(out, Assigned) == [Assigned("d1", "ann", 10, "dedicated", dedicated=True)]


def test_dedicated_waits_while_its_agent_is_full_then_follows_in_order() -> None:
    r = world(RouterConfig(channel_weights={"sms": 50}), available=["ann"])
    for i in range(4):
        arrive(r, f"d{i}", "ann-sms", T0 + i)
    assert r.assigned_to("ann") == ["d0", "d1"]
    assert r.inbox_for("ann") == ["d2", "d3"]
    out = r.handle(End("d0", "ann"), T0 + 10)
    assert only(out, Assigned) == [Assigned("d2", "ann", 50, "dedicated", dedicated=True)]
    check_invariants(r)


def test_dedicated_fall_back_to_the_inbox_when_the_agent_is_removed() -> None:
    r = world()
    arrive(r, "d1", "ann-sms", T0)  # ann offline: waits for her
    out = r.handle(AgentRemoved("ann"), T0 + 1)
    assert [(v.visible, v.agent_id) for v in only(out, InboxVisibility)] == [
        (False, "ann"),
        (True, None),
    ]
    assert r.conversation("d1").mode == "simplified"  # type: ignore[union-attr]
    assert r.inbox_for("bob") == ["d1"]
    out = arrive(r, "d2", "ann-sms", T0 + 2)
    assert only(out, Queued)[0].mode == "simplified"


# ---------------------------------------------------------------------- flow routing


@pytest.mark.parametrize(
    ("arrivals", "served"),
    [
        # (id, touchpoint, tier) in arrival order → the order one agent is offered them
        ([("a", "web", ""), ("b", "web", ""), ("c", "web", "")], ["a", "b", "c"]),
        ([("a", "vip", ""), ("b", "vip", "gold"), ("c", "vip", "")], ["b", "a", "c"]),
        ([("a", "vip", "gold"), ("b", "vip", ""), ("c", "vip", "gold")], ["a", "c", "b"]),
    ],
)
def test_highest_priority_first_then_oldest(
    arrivals: list[tuple[str, str, str]], served: list[str]
) -> None:
    r = world(RouterConfig(channel_weights={"chat": 100}))
    for i, (cid, tp, tier) in enumerate(arrivals):
        arrive(r, cid, tp, T0 + i, tier=tier)
    assert r.inbox_for("ann") == served  # the Inbox shows service order too
    got = []
    out = r.handle(AgentStatusChanged("ann", "available"), T0 + 10)
    for i in range(len(served)):
        (offer,) = only(out, Offered)
        got.append(offer.conversation_id)
        r.handle(Accept(offer.conversation_id, "ann"), T0 + 11 + i)
        out = r.handle(End(offer.conversation_id, "ann"), T0 + 11 + i)
        check_invariants(r)
    assert got == served


@pytest.mark.parametrize(
    ("loads", "idle", "chosen"),
    [
        ({"ann": 1, "bob": 0}, {"ann": 0, "bob": 5}, "bob"),  # least loaded wins
        ({"ann": 0, "bob": 0}, {"ann": 5, "bob": 1}, "bob"),  # then longest idle
        ({"ann": 0, "bob": 0}, {"ann": 1, "bob": 1}, "ann"),  # then agent id
    ],
)
def test_agent_selection_least_loaded_then_longest_idle(
    loads: dict[str, int], idle: dict[str, int], chosen: str
) -> None:
    r = world()
    for agent in sorted(idle, key=lambda a: idle[a]):
        r.handle(AgentStatusChanged(agent, "available"), T0 + idle[agent])
    n = 0
    for agent, count in loads.items():
        for _ in range(count):
            n += 1
            arrive(r, f"s{n}", "sms", T0 + 6)
            r.handle(Assign(f"s{n}", agent), T0 + idle[agent])  # keeps its idle order
    out = arrive(r, "c", "web", T0 + 20)
    assert only(out, Offered)[0].agent_id == chosen


def test_manual_offer_rings_one_agent_and_moves_on_after_a_timeout() -> None:
    r = world(RouterConfig(offer_timeout=30, reoffer_cooldown=120), available=["ann", "bob"])
    out = arrive(r, "c", "web", T0)
    assert kinds(out) == ["Queued", "InboxVisibility", "Offered", "Sound"]
    assert out[2] == Offered("c", "ann", T0 + 30, 25)
    assert out[3] == Sound("ann", "offered", "c")
    assert r.next_deadline() == T0 + 30
    assert r.handle(Tick(), T0 + 29) == []
    out = r.handle(Tick(), T0 + 30)
    assert out[:2] == [OfferWithdrawn("c", "ann", "expired"), Offered("c", "bob", T0 + 60, 25)]
    out = r.handle(Tick(), T0 + 60)  # bob times out too; ann is still cooling down
    assert kinds(out) == ["OfferWithdrawn"]
    assert r.conversation("c").state == "waiting"  # type: ignore[union-attr]
    assert r.next_deadline() == T0 + 30 + 120
    out = r.handle(Tick(), T0 + 150)  # ann's cooldown ends: she is rung again
    assert only(out, Offered) == [Offered("c", "ann", T0 + 180, 25)]
    check_invariants(r)


def test_reject_moves_the_offer_on_and_not_back_for_a_while() -> None:
    r = world(available=["ann", "bob"])
    arrive(r, "c", "web", T0)
    out = r.handle(Reject("c", "ann"), T0 + 1)
    assert out[:2] == [OfferWithdrawn("c", "ann", "rejected"), Offered("c", "bob", T0 + 31, 25)]
    out = r.handle(Reject("c", "bob"), T0 + 2)
    assert kinds(out) == ["OfferWithdrawn"]  # everyone said no: it waits in the Inbox
    assert r.inbox_for("ann") == ["c"]
    out = r.handle(Assign("c", "ann"), T0 + 3)  # a cooldown blocks offers, not choices
    assert only(out, Assigned)[0].how == "assign"


def test_auto_accept_assigns_directly() -> None:
    r = world(available=["cat"])
    out = arrive(r, "c", "auto", T0)
    assert kinds(out) == ["Queued", "InboxVisibility", "InboxVisibility", "Assigned", "Sound"]
    assert out[-2:] == [Assigned("c", "cat", 25, "auto"), Sound("cat", "auto_assigned", "c")]


@pytest.mark.parametrize(("available", "replied"), [([], True), (["cat"], True), (["ann"], False)])
def test_auto_reply_only_when_no_agent_can_take_it(available: list[str], replied: bool) -> None:
    r = world(available=available)
    out = arrive(r, "c", "vip", T0)
    texts = [a.text for a in only(out, AutoReply)]
    assert texts == (["All our agents are busy; we will be with you shortly."] if replied else [])


def test_accepting_an_expired_offer_is_refused_without_change() -> None:
    r = world(available=["ann"])
    arrive(r, "c", "web", T0)
    before = export_snapshot(r)
    with pytest.raises(OfferExpired):
        r.handle(Accept("c", "ann"), T0 + 30)  # expired, though no Tick has run yet
    assert export_snapshot(r) == before
    r.handle(Tick(), T0 + 30)
    with pytest.raises(OfferExpired):
        r.handle(Accept("c", "ann"), T0 + 31)
    with pytest.raises(RoutingError) as err:
        r.handle(Accept("c", "bob"), T0 + 31)
    assert err.value.code == "not_offered"


def test_an_agent_assigning_someone_elses_ringing_offer_withdraws_it() -> None:
    r = world(available=["ann"])
    arrive(r, "c", "web", T0)
    r.handle(AgentStatusChanged("bob", "available"), T0 + 1)
    out = r.handle(Assign("c", "bob"), T0 + 2)
    assert out[0] == OfferWithdrawn("c", "ann", "assigned_elsewhere")
    assert only(out, Assigned) == [Assigned("c", "bob", 25, "assign")]
    with pytest.raises(RoutingError) as err:
        r.handle(Accept("c", "ann"), T0 + 3)
    assert err.value.code == "already_assigned"


# ---------------------------------------------------------------------- actions


def test_transfer_to_an_agent() -> None:
    r = world(available=["ann", "bob"])
    r.handle(AgentStatusChanged("cat", "away"), T0)  # away agents may be handed work
    arrive(r, "c", "web", T0)
    r.handle(Accept("c", "ann"), T0)
    out = r.handle(Transfer("c", "ann", to_agent_id="cat"), T0 + 1)
    assert kinds(out) == ["Assigned", "Sound"]
    assert out == [Assigned("c", "cat", 25, "transfer", "ann"), Sound("cat", "transferred", "c")]
    assert r.agent("ann").load_points == 0 and r.agent("cat").load_points == 25  # type: ignore[union-attr]
    assert r.can_see("cat", "c") and r.can_see("ann", "c")  # ann still sees it: she is in sales
    for target, code in [("cat", "invalid_transfer"), ("nobody", "unknown_agent")]:
        with pytest.raises(RoutingError) as err:
            r.handle(Transfer("c", "cat", to_agent_id=target), T0 + 2)
        assert err.value.code == code
    with pytest.raises(RoutingError) as err:
        r.handle(Transfer("c", "ann", to_agent_id="bob"), T0 + 2)  # no longer hers
    assert err.value.code == "not_owner"
    r.handle(Transfer("c", "sue", to_agent_id="bob"), T0 + 3)  # a supervisor may
    assert r.conversation("c").owner_agent_id == "bob"  # type: ignore[union-attr]


def test_transfer_to_a_queue_requeues_it_at_its_place() -> None:
    r = world(available=["ann"])
    arrive(r, "c", "web", T0)
    r.handle(Accept("c", "ann"), T0)
    arrive(r, "later", "auto", T0 + 5)  # support, nobody available
    out = r.handle(Transfer("c", "ann", to_queue_id="support"), T0 + 10)
    assert out[0] == Requeued("c", "ann", ["support"], "transferred")
    assert r.inbox_for("cat") == ["c", "later"]  # by original arrival
    out = r.handle(AgentStatusChanged("cat", "available"), T0 + 11)
    assert only(out, Offered)[0].conversation_id == "c"


def test_send_to_inbox_keeps_the_place_and_does_not_ring_the_sender_back() -> None:
    r = world(available=["ann"])
    arrive(r, "old", "web", T0)
    r.handle(Accept("old", "ann"), T0)
    r.handle(AgentStatusChanged("ann", "away"), T0 + 1)
    arrive(r, "new", "web", T0 + 2)
    out = r.handle(SendToInbox("old", "ann"), T0 + 3)
    assert out[:2] == [
        Requeued("old", "ann", ["sales"], "sent_to_inbox"),
        InboxVisibility("old", True, ["sales"], 0, T0),
    ]
    assert r.inbox_for("bob") == ["old", "new"]
    out = r.handle(AgentStatusChanged("ann", "available"), T0 + 4)
    assert [o.conversation_id for o in only(out, Offered)] == ["new"]  # cooling down on "old"
    out = r.handle(AgentStatusChanged("bob", "available"), T0 + 5)
    assert [o.conversation_id for o in only(out, Offered)] == ["old"]


def test_end_wrap_up_close_frees_capacity_at_end() -> None:
    r = world(available=["ann"])
    arrive(r, "c", "web", T0)
    r.handle(Accept("c", "ann"), T0)
    refused: list[tuple[Event, str]] = [
        (WrapUp("c", "ann", "", None), "not_in_wrapup"),
        (End("c", "bob"), "not_owner"),
        (End("nope", "ann"), "unknown_conversation"),
    ]
    for event, code in refused:
        with pytest.raises(RoutingError) as err:
            r.handle(event, T0 + 1)
        assert err.value.code == code
    assert r.handle(End("c", "ann"), T0 + 2) == [Ended("c", "ann")]
    assert r.agent("ann").capacity_left == 100  # type: ignore[union-attr]
    assert r.conversation("c").state == "wrapup"  # type: ignore[union-attr]
    assert r.assigned_to("ann") == ["c"]  # still hers until wrapped up
    with pytest.raises(RoutingError) as err:
        r.handle(End("c", "ann"), T0 + 3)
    assert err.value.code == "not_assigned"
    out = r.handle(WrapUp("c", "ann", "refund issued", "resolved"), T0 + 4)
    assert out == [Closed("c", "ann", "refund issued", "resolved")]
    assert r.conversation("c") is None and r.assigned_to("ann") == []


def test_supervisor_may_end_someone_elses_conversation() -> None:
    r = world(available=["ann"])
    arrive(r, "c", "web", T0)
    r.handle(Accept("c", "ann"), T0)
    assert r.handle(End("c", "sue"), T0 + 1) == [Ended("c", "ann")]


def test_away_withdraws_offers_keeps_assigned_offline_requeues_live_ones() -> None:
    r = world(available=["ann", "bob"])
    arrive(r, "c1", "web", T0)  # → ann
    r.handle(Accept("c1", "ann"), T0)
    arrive(r, "c2", "web", T0 + 1)  # → bob (least loaded)
    r.handle(Accept("c2", "bob"), T0 + 1)
    arrive(r, "c3", "web", T0 + 2)  # → ann (25 ≤ 25, ann idle longer)
    arrive(r, "d1", "ann-sms", T0 + 3)  # → ann, dedicated
    out = r.handle(AgentStatusChanged("ann", "away"), T0 + 4)
    assert out[:2] == [OfferWithdrawn("c3", "ann", "agent_away"), Offered("c3", "bob", T0 + 34, 25)]
    assert r.assigned_to("ann") == ["c1", "d1"]
    out = r.handle(AgentStatusChanged("ann", "offline"), T0 + 5)
    assert only(out, Requeued) == [Requeued("c1", "ann", ["sales"], "agent_offline")]
    assert r.assigned_to("ann") == ["d1"]  # dedicated stays with her
    check_invariants(r)


def test_queue_change_applies_to_routing_at_once() -> None:
    r = world()
    arrive(r, "c", "auto", T0)  # support
    r.handle(AgentStatusChanged("ann", "available"), T0 + 1)
    out = r.handle(AgentUpserted("ann", ["sales", "support"]), T0 + 2)
    assert only(out, Assigned) == [Assigned("c", "ann", 25, "auto")]


def test_an_agent_in_several_queues_gets_the_best_across_queues_and_channels() -> None:
    r = world(RouterConfig(channel_weights={"chat": 40}))
    arrive(r, "support-old", "auto", T0)  # support, chat
    arrive(r, "sales-voice", "phone", T0 + 1)  # sales, voice 51
    arrive(r, "sales-new", "web", T0 + 2)  # sales, chat
    arrive(r, "support-gold", "auto", T0 + 3)
    out = r.handle(AgentStatusChanged("bob", "available"), T0 + 4)  # bob: sales + support
    # oldest first across both queues; the voice call still fits after one chat (40 + 51)
    assert [
        (type(d).__name__, d.conversation_id) for d in out if isinstance(d, (Offered, Assigned))
    ] == [
        ("Assigned", "support-old"),
        ("Offered", "sales-voice"),
    ]
    check_invariants(r)


def test_longest_idle_counts_from_the_last_work_received() -> None:
    r = world(available=["ann", "bob"])  # both became available at T0: a tie
    arrive(r, "c1", "web", T0 + 1)
    assert r.conversation("c1").offer_agent_id == "ann"  # type: ignore[union-attr]  # by id
    r.handle(Accept("c1", "ann"), T0 + 2)
    r.handle(End("c1", "ann"), T0 + 3)  # both hold nothing again
    arrive(r, "c2", "web", T0 + 4)
    assert r.conversation("c2").offer_agent_id == "bob"  # type: ignore[union-attr]  # idle longer


def test_a_supervisor_taking_a_dedicated_conversation_ends_its_dedicated_status() -> None:
    r = world()
    r.handle(AgentStatusChanged("sue", "available"), T0)
    arrive(r, "d1", "ann-sms", T0)  # ann offline: waits for her
    out = r.handle(Assign("d1", "sue"), T0 + 1)
    assert out[-1] == Assigned("d1", "sue", 10, "assign")
    view = r.conversation("d1")
    assert view is not None and not view.dedicated and view.owner_agent_id == "sue"
    assert r.inbox_for("ann") == []


def test_a_dedicated_agents_own_start_stays_dedicated_in_the_decision() -> None:
    """Regression: Assigned said nothing of the conversation's mode and the store took
    ``how == "dedicated"`` for it, so one its dedicated agent started (or took from their
    backlog) was stored as not dedicated and a rebuild brought it back simplified."""
    r = world(available=["ann", "bob"])
    out = r.handle(ConversationArrived("o1", "ann-sms", "sms", agent_id="ann"), T0)
    assert only(out, Assigned) == [Assigned("o1", "ann", 10, "outbound", dedicated=True)]
    assert r.conversation("o1").dedicated  # type: ignore[union-attr]
    # someone else starting on ann's number holds it as an ordinary conversation
    out = r.handle(ConversationArrived("o2", "ann-sms", "sms", agent_id="bob"), T0 + 1)
    assert only(out, Assigned) == [Assigned("o2", "bob", 10, "outbound")]
    assert not r.conversation("o2").dedicated  # type: ignore[union-attr]
    # the same for the agents' own starts (AgentStarted): it was always ordinary, so a
    # rebuild of one caught "new" by a restart made it dedicated, and its agent going
    # offline sent it to the queue before a restart but not after
    out = r.handle(AgentStarted("o3", "ann-sms", "sms", "ann"), T0 + 2)
    assert only(out, Queued)[0].mode == "dedicated"
    assert only(out, Assigned) == [Assigned("o3", "ann", 10, "assign", dedicated=True)]
    out = r.handle(AgentStarted("o4", "ann-sms", "sms", "bob"), T0 + 3)
    assert only(out, Queued)[0].mode == "simplified"
    assert only(out, Assigned) == [Assigned("o4", "bob", 10, "assign")]
    r.handle(AgentStatusChanged("ann", "offline"), T0 + 4)
    assert r.conversation("o3").state == "assigned"  # type: ignore[union-attr]
    check_invariants(r)


def test_only_events_are_handled() -> None:
    with pytest.raises(TypeError):
        world().handle("Tick", T0)  # type: ignore[arg-type]
