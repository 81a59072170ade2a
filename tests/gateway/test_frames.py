"""One message, counted on the wire (issue 18): the sending socket gets one frame (its
ack, which carries the stored message), the recipient's socket one frame (the message,
with their unread count and, to an agent, the sound), and the sender's other tabs the
message. It used to be five frames: message, unread and sound to the agent, the echo and
the ack to the sender."""

from __future__ import annotations

from typing import Any

from devkit.inprocess import InProcessGateway
from tests.gateway.client import AgentClient, Socket, Visitor, accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor


async def since(sock: Socket, mark: int, probe: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames this socket got after the first ``mark``: a ``history`` request's
    answer is queued after whatever was queued for the socket before it, so what came
    before the answer is everything the message sent here."""
    await sock.send(probe)
    await sock.expect("history")
    sock.drain()
    return [f for f in sock.seen[mark:] if f["type"] != "history"]


async def test_one_message_is_one_frame_to_its_sender_and_one_to_its_recipient(
    inprocess_gateway: InProcessGateway,
) -> None:
    node = inprocess_gateway
    agent, visitor = demo_agent(node), demo_visitor(node)
    cid = await accepted_chat(agent, visitor, name="Lin")
    # a second tab of each
    agent2 = AgentClient(node, agent.email, agent.password, token=agent.token)
    await agent2.connect()
    visitor2 = Visitor(
        node, visitor.touchpoint_id, visitor.page_url, visitor.origin, token=visitor.token
    )
    await visitor2.connect()
    socks = [s for s in (agent.sock, agent2.sock, visitor.sock, visitor2.sock) if s]
    assert len(socks) == 4
    a1, a2, v1, v2 = socks
    probes = {
        a1: {"type": "history", "conversation_id": cid, "limit": 1},
        a2: {"type": "history", "conversation_id": cid, "limit": 1},
        v1: {"type": "history", "limit": 1},
        v2: {"type": "history", "limit": 1},
    }

    async def marks() -> dict[Socket, int]:
        for sock in socks:  # whatever the chat's start sent is out of the way
            await since(sock, len(sock.seen), probes[sock])
        return {sock: len(sock.seen) for sock in socks}

    # The visitor writes from their first tab.
    mark = await marks()
    ack = await visitor.say("Where is my parcel?")
    got = {sock: await since(sock, mark[sock], probes[sock]) for sock in socks}
    assert [f["type"] for f in got[v1]] == ["ack"]
    mine = ack["message"]
    assert mine["type"] == "message" and mine["seq"] == ack["seq"]
    assert mine["body"] == "Where is my parcel?" and mine["sender"] == "visitor"
    assert mine["client_msg_id"] == ack["client_msg_id"]
    assert [f["type"] for f in got[v2]] == ["message"]
    assert got[v2][0]["seq"] == ack["seq"] and "unread" not in got[v2][0]
    for sock in (a1, a2):  # both of the agent's tabs: message, unread count and sound
        assert [f["type"] for f in got[sock]] == ["message"], got[sock]
        to_agent = got[sock][0]
        assert to_agent["seq"] == ack["seq"] and to_agent["body"] == "Where is my parcel?"
        assert to_agent["unread"] == 2  # the first message and this one
        assert to_agent["sound"] == {"event": "reply", "sound": "pop"}

    # The agent answers from their first tab.
    mark = await marks()
    ack = await agent.say(cid, "On its way.")
    got = {sock: await since(sock, mark[sock], probes[sock]) for sock in socks}
    assert [f["type"] for f in got[a1]] == ["ack"]
    assert ack["message"]["seq"] == ack["seq"] and ack["message"]["body"] == "On its way."
    assert [f["type"] for f in got[a2]] == ["message"]
    assert got[a2][0]["seq"] == ack["seq"] and "unread" not in got[a2][0]
    assert "sound" not in got[a2][0]
    for sock in (v1, v2):  # both of the visitor's tabs: the message with their count
        assert [f["type"] for f in got[sock]] == ["message"], got[sock]
        assert got[sock][0]["seq"] == ack["seq"] and got[sock][0]["unread"] == 1

    # A retry is acknowledged with the stored message again.
    again = await visitor.say("Where is my parcel?", mine["client_msg_id"])
    assert again["duplicate"] is True and again["message"] == mine
