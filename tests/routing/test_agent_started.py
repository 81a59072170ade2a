"""AgentStarted: a conversation an agent starts (an outbound SMS or email) is theirs at
once, never in the Inbox; refused, changing nothing, when the agent cannot take it."""

from __future__ import annotations

import pytest

from routing import (
    AgentStarted,
    AgentStatusChanged,
    Assigned,
    Queued,
    RoutingError,
    export_snapshot,
)

from .support import T0, world


def test_the_conversation_is_the_agents_at_once_and_never_in_the_inbox() -> None:
    r = world(available=["ann", "bob"])
    out = r.handle(AgentStarted("o1", "sms", "sms", "ann"), T0)
    assert out == [
        Queued("o1", ["sales"], 0, "manual", "simplified"),
        Assigned("o1", "ann", r.weight("sms"), "assign"),
    ]
    view = r.conversation("o1")
    assert view is not None and view.state == "assigned" and view.owner_agent_id == "ann"
    assert "o1" not in r.inbox_for("bob") and r.assigned_to("ann") == ["o1"]  # never in the Inbox
    assert r.agent("ann").load_points == r.weight("sms")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (AgentStarted("o2", "sms", "sms", "cat"), "agent_unavailable"),  # offline
        (AgentStarted("o2", "nope", "sms", "ann"), "unknown_touchpoint"),
        (AgentStarted("o2", "sms", "email", "ann"), "invalid_touchpoint"),
        (AgentStarted("o2", "sms", "sms", "zed"), "unknown_agent"),
        (AgentStarted("o1", "sms", "sms", "ann"), "conversation_exists"),
    ],
)
def test_refusals_change_nothing(event: AgentStarted, code: str) -> None:
    r = world(available=["ann"])
    r.handle(AgentStarted("o1", "sms", "sms", "ann"), T0)
    before = export_snapshot(r)
    with pytest.raises(RoutingError) as err:
        r.handle(event, T0 + 1)
    assert err.value.code == code
    assert export_snapshot(r) == before


def test_an_agent_without_room_is_refused() -> None:
    r = world(available=["ann"])
    n = 0
    while True:
        try:
            r.handle(AgentStarted(f"f{n}", "sms", "sms", "ann"), T0)
        except RoutingError as err:
            assert err.code == "over_capacity"
            break
        n += 1
    assert n == 100 // r.weight("sms")
    r.handle(AgentStatusChanged("ann", "offline"), T0 + 1)
    # going offline requeues the started conversations like any assigned ones
    assert all(r.conversation(f"f{i}").state == "waiting" for i in range(n))  # type: ignore[union-attr]
