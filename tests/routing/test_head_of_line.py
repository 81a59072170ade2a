"""What waits behind something that moved: a dedicated backlog whose head left, and
conversations that fit once their channel's weight was lowered (docs/routing.md,
*Dedicated agent* and *Which agent*). Found by randomized sequences checked against
the router's invariants after every event."""

from __future__ import annotations

import pytest

from routing import (
    AgentStarted,
    AgentStatusChanged,
    AgentUpserted,
    Assign,
    Assigned,
    ChannelWeightChanged,
    ContactEnded,
    ConversationArrived,
    Event,
    FlowConfig,
    Outcome,
    Router,
    RouterConfig,
    TouchpointUpserted,
)

T = 1_700_000_000.0


def _dedicated_backlog() -> Router:
    """dee has 75 of her 100 points taken; her own Inbox holds d1 (voice, 51: does not
    fit) and, behind it, d2 (SMS, 10: fits, but a newer one does not jump an older)."""
    r = Router(RouterConfig())
    events: list[Event] = [
        AgentUpserted("dee", ["sales"]),
        AgentUpserted("sue", [], role="supervisor"),
        TouchpointUpserted("dee-voice", "voice", "dedicated", ["sales"], dedicated_agent_id="dee"),
        TouchpointUpserted("dee-sms", "sms", "dedicated", ["sales"], dedicated_agent_id="dee"),
        TouchpointUpserted("out", "chat", "simplified", ["sales"]),
        AgentStatusChanged("dee", "available"),
        AgentStatusChanged("sue", "available"),
        AgentStarted("o1", "out", "chat", "dee"),
        AgentStarted("o2", "out", "chat", "dee"),
        AgentStarted("o3", "out", "chat", "dee"),
        ConversationArrived("d1", "dee-voice", "voice"),
        ConversationArrived("d2", "dee-sms", "sms"),
    ]
    for ev in events:
        r.handle(ev, T)
    assert r.conversation("d1").state == r.conversation("d2").state == "waiting"  # type: ignore[union-attr]
    return r


@pytest.mark.parametrize(
    "leaves", [Assign("d1", "sue"), ContactEnded("d1")], ids=["taken-over", "contact-ended"]
)
def test_the_next_in_a_dedicated_backlog_is_assigned_once_its_head_leaves(leaves: Event) -> None:
    r = _dedicated_backlog()
    out = r.handle(leaves, T + 1)
    assert [(x.conversation_id, x.agent_id, x.how) for x in out if isinstance(x, Assigned)][-1] == (
        "d2",
        "dee",
        "dedicated",
    )
    assert r.conversation("d2").state == "assigned"  # type: ignore[union-attr]


def test_a_lowered_weight_gives_what_now_fits_to_the_least_loaded_agent() -> None:
    auto = FlowConfig(default=Outcome(acceptance="auto"))
    r = Router(RouterConfig(channel_weights={"chat": 30, "email": 5}))
    events: list[Event] = [
        AgentUpserted("a0", ["q"]),
        AgentUpserted("a2", ["q"]),
        TouchpointUpserted("web", "chat", "flow", ["q"], flow=auto),
        TouchpointUpserted("out", "email", "simplified", ["q"]),
        AgentStatusChanged("a0", "available"),
        AgentStatusChanged("a2", "available"),
    ]
    events += [AgentStarted(f"o0-{i}", "out", "email", "a0") for i in range(16)]  # 80 points
    events += [AgentStarted(f"o2-{i}", "out", "email", "a2") for i in range(15)]  # 75 points
    for ev in events:
        r.handle(ev, T)
    r.handle(ConversationArrived("c1", "web", "chat"), T + 1)  # 30 points: fits nobody
    assert r.conversation("c1").state == "waiting"  # type: ignore[union-attr]
    out = r.handle(ChannelWeightChanged("chat", 20), T + 2)  # both could take it now
    assert [x.agent_id for x in out if isinstance(x, Assigned)] == ["a2"]  # before: a0, by id
