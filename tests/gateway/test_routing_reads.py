"""What routing a new conversation reads: its row in the Inbox of every agent who sees
it is drawn from one read of its contact and last messages, whatever the number of
agents; and the contact's next message is written on the conversation as routing left
it, in one statement (gateway/services/recent.py), not refused as stale and read again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from devkit.inprocess import InProcessGateway
from gateway import protocol as p
from gateway.ports.store.base import Store
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import (
    InProcessFactory,
    agent_record,
    auto_touchpoint,
    demo_visitor,
    seed,
)

AGENTS = 6


def counted(node: InProcessGateway, calls: Counter[str], *names: str) -> Store:
    """Count the calls of the node's store methods ``names`` in ``calls``."""
    store: Store = node.node.store
    for name in names:
        method: Callable[..., Any] = getattr(store, name)

        def wrapper(*args: Any, _m: Callable[..., Any] = method, _n: str = name, **kw: Any) -> Any:
            calls[_n] += 1
            return _m(*args, **kw)

        setattr(store, name, wrapper)
    return store


async def test_a_new_conversations_inbox_rows_read_its_contact_once(
    inprocess_factory: InProcessFactory,
) -> None:
    agents = [agent_record(f"ag_r{i}", f"r{i}@test", ["q_support"]) for i in range(AGENTS)]

    def setup(url: str, port: int) -> None:
        # assigned on arrival: shown in the Inbox of every agent of the queue, and hidden
        # again, in one routing (the relay benchmark's touchpoint)
        tp = auto_touchpoint(port)
        seed(url, agents=agents, touchpoints=[tp])

    node = await inprocess_factory(setup=setup)
    for i in range(AGENTS):
        agent = AgentClient(node, f"r{i}@test", f"pw-ag_r{i}")
        await agent.login()
        await agent.connect()
    visitor = Visitor(node, "tp_auto", node.base_url + "/demo", origin=node.base_url)
    await visitor.bootstrap()
    await visitor.connect()
    calls: Counter[str] = Counter()
    counted(node, calls, "get_contact", "messages")
    told: set[str] = set()
    tell = node.node.notifier.agent

    async def spy(agent_id: str, frame: Any, skip: str = "") -> None:
        if isinstance(frame, p.ConversationUpdate):
            told.add(agent_id)
        await tell(agent_id, frame, skip)

    node.node.notifier.agent = spy
    # routed (and its rows told) before its first message is acknowledged
    await visitor.start(name="Lin")
    assert len(told) == AGENTS  # every agent of the queue was told of its row
    # one read for all the rows (and the start's own), not one per agent
    assert calls["get_contact"] < AGENTS, calls
    assert calls["messages"] < AGENTS, calls


async def test_the_first_message_after_routing_is_written_without_a_read(
    inprocess_factory: InProcessFactory,
) -> None:
    node = await inprocess_factory()
    visitor = demo_visitor(node)
    await visitor.bootstrap()
    await visitor.connect()
    await visitor.start(name="Lin")  # routed by its first message: waiting, no agent online
    calls: Counter[str] = Counter()
    counted(node, calls, "get_conversation", "append")
    await visitor.say("still there?")
    assert calls == Counter(append=1), calls
