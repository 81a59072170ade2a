"""The Inbox shows the unread count of an ongoing conversation sent back to the queue or
transferred to a queue (PRODUCT.md, "Unread counts"): live, and after a reconnect, over
a real process and real agent sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devkit.services import GatewayProcess
from tests.gateway.client import AgentClient, Socket, accepted_chat
from tests.gateway.conftest import agent_record, demo_visitor, seed


def node_with_a_and_b(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """The demo gateway with agents ``ag_a`` and ``ag_b`` (q_support); offers ring for ten
    minutes."""

    def setup(url: str, port: int) -> None:
        seed(
            url,
            agents=[
                agent_record("ag_a", "a@test", ["q_support"]),
                agent_record("ag_b", "b@test", ["q_support"]),
            ],
        )

    return gateway_factory({"GATEWAY_OFFER_TIMEOUT": "600"}, setup=setup)


async def away(agent: AgentClient) -> None:
    """The agent is rung for nothing more (still online: their Inbox is shown)."""
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "away"})
    await agent.sock.expect("ok", ref="away")


async def row_at(sock: Socket, cid: str, place: str) -> dict[str, Any]:
    """The next row of ``cid`` that comes with this ``place``."""
    while True:
        frame = await sock.expect("conversation")
        row: dict[str, Any] = frame["conversation"]
        if row["conversation_id"] == cid and row["place"] == place:
            return row


async def inbox_unread(sock: Socket, cid: str) -> int:
    """The unread count of the next Inbox row of ``cid`` that comes."""
    return int((await row_at(sock, cid, "inbox"))["unread"])


@pytest.mark.parametrize(
    "back",
    [
        {"type": "send_to_inbox"},
        {"type": "transfer", "to_queue_id": "q_support", "note": "for the queue"},
    ],
    ids=["sent_to_inbox", "transferred_to_queue"],
)
async def test_the_inbox_row_counts_what_the_contact_wrote_since_it_came_back(
    gateway_factory: Callable[..., GatewayProcess], back: dict[str, Any]
) -> None:
    node = node_with_a_and_b(gateway_factory)
    b = AgentClient(node, "b@test", "pw-ag_b")
    await b.login()
    await b.connect()
    await away(b)  # the chat rings a, and nobody once it is back in the Inbox
    assert b.sock

    a = AgentClient(node, "a@test", "pw-ag_a")
    visitor = demo_visitor(node)
    cid = await accepted_chat(a, visitor, name="Lin")
    assert a.sock
    await row_at(b.sock, cid, "gone")  # taken: out of b's Inbox
    # a has read the first message: the conversation goes back with nothing unread
    await a.sock.send({"type": "read", "conversation_id": cid, "seq": visitor.last_seq[cid]})
    assert (await a.sock.expect("unread", conversation_id=cid))["count"] == 0
    await away(a)
    kind = back["type"]
    done = await a.act(kind, cid, **{k: v for k, v in back.items() if k != "type"})
    assert done["type"] == "ok", done
    assert await inbox_unread(b.sock, cid) == 0  # back in b's Inbox

    await visitor.say("Are you still there?")
    assert await inbox_unread(b.sock, cid) == 1
    await visitor.say("Hello?")
    assert await inbox_unread(b.sock, cid) == 2

    # The count survives a reconnect: the snapshot's row has it.
    await b.sock.close()
    snap = await b.connect()
    rows = [r for r in snap["inbox"] if r["conversation_id"] == cid]
    assert [r["unread"] for r in rows] == [2], snap["inbox"]
