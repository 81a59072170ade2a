"""A supervisor moves a conversation nobody holds (waiting, or ringing someone) to another
queue with a Transfer to that queue: it keeps its place in service order, leaves its old
queues (an offer ringing is withdrawn, reason "moved") and is routed in the new one at
once. Everyone else, and every other target, is refused as before (docs/routing.md,
"Agent actions")."""

from __future__ import annotations

import pytest

from routing import (
    Accept,
    AgentStatusChanged,
    ConversationArrived,
    Decision,
    FlowConfig,
    InboxVisibility,
    Offered,
    OfferWithdrawn,
    Outcome,
    Requeued,
    Router,
    Sound,
    TouchpointUpserted,
    Transfer,
    export_snapshot,
)
from routing.errors import RoutingError

from .support import T0, check_invariants, world


def arrive(r: Router, cid: str, tp: str, t: float, *, hold: bool = False) -> list[Decision]:
    channel = "sms" if tp.endswith("sms") else "chat"
    out = r.handle(ConversationArrived(cid, tp, channel, hold=hold), t)
    check_invariants(r)
    return out


def move(r: Router, cid: str, to: str, t: float, by: str = "sue") -> list[Decision]:
    out = r.handle(Transfer(cid, by, to_queue_id=to), t)
    check_invariants(r)
    return out


def refused(r: Router, event: Transfer, code: str) -> None:
    before = export_snapshot(r)
    with pytest.raises(RoutingError) as err:
        r.handle(event, T0 + 50)
    assert err.value.code == code, err.value
    assert export_snapshot(r) == before


def test_a_waiting_conversation_moves_to_another_queue_and_is_routed_there() -> None:
    r = world()  # nobody available: it waits in sales
    arrive(r, "c", "web", T0)
    before = r.conversation("c")
    out = move(r, "c", "support", T0 + 10)
    assert out == [
        InboxVisibility("c", False, ["sales"], 0, T0),
        Requeued("c", "", ["support"], "moved"),
        InboxVisibility("c", True, ["support"], 0, T0),
    ]
    after = r.conversation("c")
    assert after is not None and before is not None
    assert (after.state, after.queue_ids) == ("waiting", ["support"])
    assert (after.priority, after.arrived_at) == (before.priority, before.arrived_at)
    assert r.inbox_for("ann") == [] and r.inbox_for("cat") == ["c"]
    assert not r.can_see("ann", "c")
    # routed in its new queue as soon as someone there can take it
    out = r.handle(AgentStatusChanged("cat", "available"), T0 + 11)
    assert [(o.conversation_id, o.agent_id) for o in out if isinstance(o, Offered)] == [
        ("c", "cat")
    ]


def test_a_ringing_offer_is_withdrawn_first_without_a_cooldown() -> None:
    r = world(available=["ann", "cat"])
    arrive(r, "c", "web", T0)
    assert r.conversation("c").offer_agent_id == "ann"  # type: ignore[union-attr]
    out = move(r, "c", "support", T0 + 5)
    assert out[:4] == [
        OfferWithdrawn("c", "ann", "moved"),
        InboxVisibility("c", False, ["sales"], 0, T0),
        Requeued("c", "", ["support"], "moved"),
        InboxVisibility("c", True, ["support"], 0, T0),
    ]
    assert out[4:] == [Offered("c", "cat", T0 + 35, 25), Sound("cat", "offered", "c")]
    assert r.agent("ann").reserved_points == 0  # type: ignore[union-attr]
    assert r.conversation("c").cooldowns == {}  # type: ignore[union-attr]
    # ann's offer is gone: her accept is refused, cat's goes through
    refused(r, Transfer("c", "ann", to_queue_id="sales"), "not_assigned")
    r.handle(Accept("c", "cat"), T0 + 6)
    check_invariants(r)


def test_it_keeps_its_place_in_the_new_queue() -> None:
    r = world()
    arrive(r, "old", "web", T0)  # sales
    r.handle(TouchpointUpserted("help", "chat", "flow", ["support"], flow=FlowConfig()), T0)
    r.handle(ConversationArrived("new", "help", "chat"), T0 + 5)  # support, later
    move(r, "old", "support", T0 + 10)
    assert r.inbox_for("cat") == ["old", "new"]  # by arrival, not by the move
    out = r.handle(AgentStatusChanged("cat", "available"), T0 + 11)
    assert [o.conversation_id for o in out if isinstance(o, Offered)] == ["old", "new"]


def test_a_held_conversation_moves_and_still_rings_nobody() -> None:
    r = world(available=["cat"])
    arrive(r, "c", "web", T0, hold=True)
    out = move(r, "c", "support", T0 + 1)
    assert not [o for o in out if isinstance(o, Offered)]
    assert r.inbox_for("cat") == ["c"] and r.conversation("c").acceptance == "hold"  # type: ignore[union-attr]


def test_a_dedicated_backlog_conversation_moves_to_a_queue_inbox() -> None:
    r = world()  # ann offline: her dedicated SMS waits in her backlog
    arrive(r, "c", "ann-sms", T0)
    assert r.inbox_for("ann") == ["c"] and not r.can_see("cat", "c")
    out = move(r, "c", "support", T0 + 1)
    assert out[0] == InboxVisibility("c", False, ["sales"], 0, T0, "ann")
    view = r.conversation("c")
    assert view is not None and (view.mode, view.dedicated_agent_id) == ("simplified", None)
    assert r.inbox_for("ann") == [] and r.inbox_for("cat") == ["c"]


def test_a_simplified_conversation_moves_to_a_queue() -> None:
    r = world()
    arrive(r, "c", "sms", T0)
    move(r, "c", "support", T0 + 1)
    assert r.inbox_for("cat") == ["c"] and r.inbox_for("ann") == []


def test_who_may_move_what() -> None:
    r = world(available=["ann"])
    r.handle(
        TouchpointUpserted(
            "bot", "chat", "flow", ["sales"], flow=FlowConfig(default=Outcome(bot="helper"))
        ),
        T0,
    )
    arrive(r, "ringing", "web", T0)  # rings ann
    r.handle(AgentStatusChanged("ann", "away"), T0)
    arrive(r, "waiting", "web", T0 + 1)
    arrive(r, "botted", "bot", T0 + 2)
    for cid in ("ringing", "waiting"):
        # agents, the one it rings included, still may not
        refused(r, Transfer(cid, "bob", to_queue_id="support"), "not_assigned")
        refused(r, Transfer(cid, "ann", to_queue_id="support"), "not_assigned")
        # to an agent: they take it with Assign
        refused(r, Transfer(cid, "sue", to_agent_id="cat"), "not_assigned")
        # to the queue it is already only in
        refused(r, Transfer(cid, "sue", to_queue_id="sales"), "invalid_transfer")
        refused(r, Transfer(cid, "sue"), "invalid_transfer")
    refused(r, Transfer("botted", "sue", to_queue_id="support"), "with_bot")
    refused(r, Transfer("waiting", "nobody", to_queue_id="support"), "unknown_agent")
    refused(r, Transfer("gone", "sue", to_queue_id="support"), "unknown_conversation")
