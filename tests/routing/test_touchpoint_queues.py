"""Changing a touchpoint's queues affects new conversations only (PRODUCT.md, "Queues";
docs/routing.md, "Touchpoints"): a conversation waiting when the change lands keeps the
queues it got on arrival, and only those queues' agents are offered it or may take it.
The router's pure logic here; tests/integration/test_touchpoint_queues.py over a real
gateway and its admin API."""

from __future__ import annotations

import pytest

from routing import (
    Accept,
    AgentStatusChanged,
    Assign,
    ConversationArrived,
    Offered,
    Queued,
    Router,
    SendToInbox,
    TouchpointUpserted,
    export_snapshot,
    restore_snapshot,
)
from routing.errors import RoutingError

from .support import T0, check_invariants, only, world


def arrive(r: Router, cid: str, tp: str, channel: str, t: float) -> list[Queued]:
    out = r.handle(ConversationArrived(cid, tp, channel), t)
    check_invariants(r)
    return only(out, Queued)


def test_a_waiting_flow_conversation_is_offered_to_its_old_queue_only() -> None:
    """web: chat flow, manual acceptance, sales (ann, bob) → support (bob, cat)."""
    r = world()  # nobody available: arrivals wait
    [old] = arrive(r, "c_old", "web", "chat", T0)
    assert old.queue_ids == ["sales"]
    r.handle(TouchpointUpserted("web", "chat", "flow", ["support"]), T0 + 1)
    [new] = arrive(r, "c_new", "web", "chat", T0 + 2)
    assert new.queue_ids == ["support"]
    assert r._convs["c_old"].queue_ids == ("sales",)  # the change left it alone

    # cat (support only) is offered the new one, never the old one
    offers = only(r.handle(AgentStatusChanged("cat", "available"), T0 + 3), Offered)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c_new", "cat")]
    # ann (sales only) gets the old one
    offers = only(r.handle(AgentStatusChanged("ann", "available"), T0 + 4), Offered)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c_old", "ann")]
    check_invariants(r)


def test_a_waiting_simplified_conversation_stays_in_its_old_queues_inbox() -> None:
    """sms: simplified, sales → support; agents take from the Inbox with Assign."""
    r = world(available=["ann", "cat"])
    [old] = arrive(r, "s_old", "sms", "sms", T0)
    assert old.queue_ids == ["sales"]
    r.handle(TouchpointUpserted("sms", "sms", "simplified", ["support"]), T0 + 1)
    [new] = arrive(r, "s_new", "sms", "sms", T0 + 2)
    assert new.queue_ids == ["support"]

    # cat is in support only: the old one is not hers to take, the new one is
    with pytest.raises(RoutingError):
        r.handle(Assign("s_old", "cat"), T0 + 3)
    with pytest.raises(RoutingError):
        r.handle(Assign("s_new", "ann"), T0 + 3)
    r.handle(Assign("s_new", "cat"), T0 + 4)
    r.handle(Assign("s_old", "ann"), T0 + 4)
    assert (r._convs["s_old"].owner, r._convs["s_new"].owner) == ("ann", "cat")
    check_invariants(r)


def test_an_old_conversation_sent_back_to_the_inbox_keeps_its_queue() -> None:
    """Requeued after the change (sent to the Inbox), it is still sales' work."""
    r = world(available=["ann"])
    arrive(r, "c_old", "web", "chat", T0)
    r.handle(Accept("c_old", "ann"), T0 + 1)
    r.handle(TouchpointUpserted("web", "chat", "flow", ["support"]), T0 + 2)
    r.handle(AgentStatusChanged("cat", "available"), T0 + 3)
    out = r.handle(SendToInbox("c_old", "ann"), T0 + 4)
    assert r._convs["c_old"].queue_ids == ("sales",)
    assert only(out, Offered) == []  # not cat (support), not ann (its cooldown)
    offers = only(r.handle(AgentStatusChanged("bob", "available"), T0 + 5), Offered)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c_old", "bob")]
    check_invariants(r)


def test_the_kept_queues_survive_a_snapshot() -> None:
    """A replica restored from the snapshot taken after the change keeps them too."""
    r = world()
    arrive(r, "c_old", "web", "chat", T0)
    r.handle(TouchpointUpserted("web", "chat", "flow", ["support"]), T0 + 1)
    copy = restore_snapshot(export_snapshot(r))
    assert copy._convs["c_old"].queue_ids == ("sales",)
    offers = only(copy.handle(AgentStatusChanged("cat", "available"), T0 + 2), Offered)
    assert offers == []
