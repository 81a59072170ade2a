"""Bad input: a typed error with a stable code, and the state exactly unchanged."""

from __future__ import annotations

import pytest

from routing import (
    Accept,
    AgentRemoved,
    AgentStatusChanged,
    Assign,
    ChannelWeightChanged,
    ConversationArrived,
    ConversationRestored,
    End,
    Event,
    Reject,
    RouterConfig,
    SendToInbox,
    TouchpointRemoved,
    TouchpointUpserted,
    Transfer,
    WrapUp,
    export_snapshot,
)
from routing.errors import RoutingError

from .support import CHANNEL_MODES, T0, world

BAD: list[tuple[Event, str]] = [
    (AgentRemoved("ghost"), "unknown_agent"),
    (AgentStatusChanged("ghost", "available"), "unknown_agent"),
    (TouchpointRemoved("ghost"), "unknown_touchpoint"),
    (ConversationArrived("n", "ghost", "chat"), "unknown_touchpoint"),
    (ConversationArrived("n", "web", "sms"), "invalid_touchpoint"),
    (ConversationArrived("w1", "web", "chat"), "conversation_exists"),
    (TouchpointUpserted("t", "chat", "simplified", ["sales"]), "invalid_touchpoint"),
    (
        TouchpointUpserted("t", "email", "dedicated", [], dedicated_agent_id="ann"),
        "invalid_touchpoint",
    ),
    (TouchpointUpserted("t", "sms", "dedicated", []), "invalid_touchpoint"),
    (ChannelWeightChanged("chat", 0), "invalid_weight"),
    (ChannelWeightChanged("email", 101), "invalid_weight"),
    (ChannelWeightChanged("voice", 30), "invalid_weight"),
    (Assign("ghost", "ann"), "unknown_conversation"),
    (Assign("w1", "ghost"), "unknown_agent"),
    (Assign("a1", "bob"), "already_assigned"),
    (Assign("s1", "cat"), "not_visible"),
    (Assign("s1", "bob"), "agent_unavailable"),
    (Accept("w1", "cat"), "not_offered"),
    (Accept("o1", "ann"), "offer_expired"),  # at T0 + 100 the offer is long expired
    (Accept("a1", "ann"), "already_assigned"),
    (Reject("o1", "ann"), "offer_expired"),
    (Reject("ghost", "ann"), "unknown_conversation"),
    (Transfer("a1", "ann"), "invalid_transfer"),
    (Transfer("a1", "ann", to_agent_id="cat", to_queue_id="sales"), "invalid_transfer"),
    (Transfer("a1", "ann", to_agent_id="ghost"), "unknown_agent"),
    (Transfer("a1", "ann", to_agent_id="bob"), "agent_unavailable"),
    (Transfer("a1", "cat", to_queue_id="support"), "not_owner"),
    (Transfer("w1", "ann", to_queue_id="support"), "not_assigned"),
    (SendToInbox("w1", "ann"), "not_assigned"),
    (SendToInbox("a1", "cat"), "not_owner"),
    (End("w1", "ann"), "not_assigned"),
    (End("o1", "ann"), "not_assigned"),
    (End("a1", "cat"), "not_owner"),
    (WrapUp("a1", "ann"), "not_in_wrapup"),
    (
        ConversationRestored("a1", "web", "chat", "waiting", [], 0, T0, "flow"),
        "conversation_exists",
    ),
    (ConversationRestored("r", "web", "chat", "assigned", [], 0, T0, "flow"), "invalid_restore"),
    (
        ConversationRestored(
            "r", "web", "chat", "assigned", [], 0, T0, "flow", owner_agent_id="x", weight=25
        ),
        "unknown_agent",
    ),
    (
        ConversationRestored(
            "r", "web", "chat", "assigned", [], 0, T0, "flow", owner_agent_id="ann", weight=0
        ),
        "invalid_weight",
    ),
    (
        ConversationRestored(
            "r", "web", "chat", "assigned", [], 0, T0, "flow", owner_agent_id="ann", weight=80
        ),
        "over_capacity",
    ),
]


@pytest.mark.parametrize(("event", "code"), BAD, ids=[f"{type(e).__name__}-{c}" for e, c in BAD])
def test_bad_input_is_refused_with_a_code_and_changes_nothing(event: Event, code: str) -> None:
    r = world(RouterConfig(channel_modes=CHANNEL_MODES), available=["ann"])
    r.handle(ConversationArrived("a1", "web", "chat"), T0)  # → ann
    r.handle(Accept("a1", "ann"), T0)
    r.handle(ConversationArrived("o1", "web", "chat"), T0)  # rings ann, never answered
    r.handle(ConversationArrived("s1", "sms", "sms"), T0)  # simplified, sales
    r.handle(AgentStatusChanged("ann", "away"), T0)
    r.handle(AgentStatusChanged("ann", "available"), T0)
    r.handle(ConversationArrived("w1", "web", "chat"), T0)  # rings ann...
    r.handle(AgentStatusChanged("cat", "available"), T0)
    before, deadline = export_snapshot(r), r.next_deadline()
    with pytest.raises(RoutingError) as err:
        r.handle(event, T0 + 100)
    assert err.value.code == code, err.value
    assert export_snapshot(r) == before
    assert r.next_deadline() == deadline


def test_every_code_is_snake_case_and_distinct() -> None:
    import routing.errors as errors

    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, RoutingError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
