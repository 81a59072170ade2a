"""The conversation service's intake of a channel's messages (what every webhook calls):
concurrent webhooks of one contact start one conversation and keep their order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.app import Node
from gateway.model.inbound import InboundMessage
from gateway.model.records import Queue, Touchpoint
from gateway.settings import load_settings


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_SECRET_KEY": "k" * 40, "GATEWAY_DEMO": "0"}
    )
    node = Node(settings)
    await node.start()
    await node.store.put_queue(Queue(id="q", name="Q"))
    await node.store.put_touchpoint(
        Touchpoint(
            id="tp",
            name="SMS",
            channel="sms",
            active=True,
            routing_mode="simplified",
            queue_ids=["q"],
        )
    )
    await node.shell.config_changed()
    try:
        yield node
    finally:
        await node.stop()


async def test_concurrent_messages_of_a_new_contact_start_one_conversation(node: Node) -> None:
    results = await asyncio.gather(
        *(
            node.conversations.receive(
                InboundMessage(
                    touchpoint_id="tp",
                    address="+15550001",
                    provider_message_id=f"m{i}",
                    body=f"part {i}",
                )
            )
            for i in range(8)
        )
    )
    assert len({conv.id for conv, _, _ in results}) == 1
    [conv] = await node.store.list_conversations(address="+15550001")
    bodies = [m.body for m in await node.store.messages(conv.id) if m.sender == "contact"]
    assert bodies == [f"part {i}" for i in range(8)]  # in the order they arrived
    assert len(node.conversations._receiving) == 0  # nothing kept once done
