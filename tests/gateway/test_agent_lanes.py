"""An agent's messages to different conversations go on together on one console socket;
one conversation's keep their order (gateway/web/lanes.py, docs/scaling.md, "One
socket, many conversations")."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.gateway.client import Socket, Visitor
from tests.gateway.conftest import InProcessFactory, auto_agent_node


async def _send(sock: Socket, conversation_id: str, body: str) -> str:
    cid = uuid.uuid4().hex
    await sock.send(
        {"type": "send", "conversation_id": conversation_id, "body": body, "client_msg_id": cid}
    )
    return cid


async def test_a_message_held_up_in_one_conversation_does_not_hold_the_others(
    inprocess_factory: InProcessFactory,
) -> None:
    node, agent = await auto_agent_node(inprocess_factory)
    assert agent.sock
    convs = []
    for _ in range(2):
        visitor = Visitor(node, "tp_auto", node.base_url + "/demo", origin=node.base_url)
        await visitor.bootstrap()
        await visitor.connect()
        convs.append(await visitor.start())
        told = await agent.sock.expect("conversation", timeout=30)
        while told["conversation"]["place"] != "assigned":
            told = await agent.sock.expect("conversation", timeout=30)
    a, b = convs

    store = node.node.store
    append = store.append
    gate = asyncio.Event()
    held: list[str] = []  # the bodies whose append began in conversation a

    async def slow_in_a(conversation_id: str, **kw: Any) -> Any:
        # as a store batch that takes long: a's message is under way, not yet committed
        if conversation_id == a:
            held.append(kw["body"])
            await gate.wait()
        return await append(conversation_id, **kw)

    store.append = slow_in_a
    a1 = await _send(agent.sock, a, "a1")
    a2 = await _send(agent.sock, a, "a2")
    b1 = await _send(agent.sock, b, "b1")
    # b's message is stored and acknowledged while a's first is still under way ...
    await agent.sock.expect("ack", timeout=30, client_msg_id=b1)
    # ... and a's second has not begun: one conversation's messages keep their order
    assert held == ["a1"]
    gate.set()
    first = await agent.sock.expect("ack", timeout=30, client_msg_id=a1)
    second = await agent.sock.expect("ack", timeout=30, client_msg_id=a2)
    assert held == ["a1", "a2"]
    assert first["seq"] < second["seq"]
