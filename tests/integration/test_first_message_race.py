"""Two tabs of one visitor race on the first messages of a ``new`` conversation (it is
routed by its first message): each message the contact wrote is announced to the
webhooks exactly once (``message.created``), whichever way the two interleave."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.gateway.client import Visitor
from tests.integration.conftest import Node, admin_client
from tests.integration.receiver import Receiver
from tests.integration.test_automations import hooks, visitor, webhook

__all__ = ["hooks"]  # the fixture, shared with test_automations

ROUNDS = 12


async def two_tabs_start_at_once(guest: Visitor, other: Visitor) -> tuple[str, str]:
    """Both tabs send ``start`` with a first message at the same moment; the ids of
    the conversation and of the messages' client ids are what they answer."""
    assert guest.sock and other.sock
    frames: list[dict[str, Any]] = []
    for _ in (guest, other):
        frames.append(
            {
                "type": "start",
                "fields": {"name": "Lin"},
                "page": guest.page_url,
                "message": "tab " + uuid.uuid4().hex[:6],
                "client_msg_id": uuid.uuid4().hex,
            }
        )
    await asyncio.gather(guest.sock.send(frames[0]), other.sock.send(frames[1]))
    acks = await asyncio.gather(
        guest.sock.expect("ack", client_msg_id=frames[0]["client_msg_id"]),
        other.sock.expect("ack", client_msg_id=frames[1]["client_msg_id"]),
    )
    assert acks[0]["conversation_id"] == acks[1]["conversation_id"]  # one conversation
    assert acks[0]["seq"] != acks[1]["seq"]
    return acks[0]["conversation_id"], acks[1]["conversation_id"]


async def test_racing_first_messages_are_each_announced_once(node: Node, hooks: Receiver) -> None:
    async with await admin_client(node) as admin:
        await webhook(admin, "wh_msgs", hooks.url, events=["message.created"])
    stored: set[tuple[str, int]] = set()
    for _ in range(ROUNDS):
        guest = visitor(node)
        await guest.bootstrap()
        other = Visitor(guest.node, guest.touchpoint_id, guest.page_url, guest.origin)
        other.token = guest.token  # the same visitor, in a second tab
        await guest.connect()
        await other.connect()
        try:
            await two_tabs_start_at_once(guest, other)
        finally:
            assert guest.sock and other.sock
            await guest.sock.close()
            await other.sock.close()
    for conv in node.conversations("tp_demo_127"):
        stored |= {(conv.id, seq) for seq in range(1, conv.last_seq + 1)}

    def contact_messages(r: Receiver) -> list[tuple[str, int]]:
        return [
            (e.message["conversation_id"], e.message["seq"])
            for e in r.of_type("message.created")
            if e.message and e.message["sender"] == "contact"
        ]

    await hooks.wait_for(
        lambda r: len(contact_messages(r)) >= 2 * ROUNDS,
        what=f"{2 * ROUNDS} contact messages announced",
    )
    announced = contact_messages(hooks)
    assert len(announced) == len(set(announced)) == 2 * ROUNDS  # each once
    assert set(announced) <= stored
