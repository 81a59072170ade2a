"""Bugs found by trying the gateway as users and operators would, each with the test that
failed before its fix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from devkit import services
from devkit.services import GatewayProcess
from gateway.app import Node
from gateway.auth import Identity
from gateway.errors import Conflict
from gateway.model.records import Agent, Conversation, Queue, Touchpoint
from gateway.settings import load_settings
from tests.gateway.client import accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor

FLOW = {
    "default": {"queue_ids": ["q_flow"], "priority": 3, "acceptance": "auto"},
}


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        {
            "GATEWAY_DATA_DIR": str(tmp_path),
            "GATEWAY_SECRET_KEY": "k" * 40,
            "GATEWAY_DEMO": "false",
            "GATEWAY_LOG_LEVEL": "warning",
        }
    )
    node = Node(settings)
    await node.start()
    store = node.store
    for q in ("q_tp", "q_flow"):
        await store.put_queue(Queue(id=q, name=q))
    await store.put_agent(Agent(id="ag_1", email="a@x.test", name="A", queue_ids=["q_flow"]))
    await store.put_touchpoint(
        Touchpoint(
            id="tp_chat",
            name="Shop",
            channel="chat",
            active=True,
            domain="shop.example",
            queue_ids=["q_tp"],
            flow=FLOW,
        )
    )
    await node.shell.config_changed()
    try:
        yield node
    finally:
        await node.stop()


async def start(node: Node, address: str, fields: dict[str, str]) -> Conversation:
    """A visitor's start with its first message, which routes the conversation."""
    conv, _ = await node.conversations.start("tp_chat", address, fields)
    await node.conversations.contact_send(conv, f"first-{address}", "Hello")
    return await node.store.get_conversation(conv.id)


async def test_a_rebuild_between_creating_and_routing_a_conversation(node: Node) -> None:
    """An admin change that rebuilds the router after a conversation was inserted and
    before its arrival was applied used to make the visitor's start fail with
    conversation_exists, and restored the conversation with the touchpoint's queues and
    manual acceptance instead of its flow's outcome. A conversation is routed by its
    first message now: the rebuild comes between that message and the arrival."""
    store = node.store
    append = store.append
    rebuilds = 0

    async def append_then_rebuild(*args: Any, **kw: Any) -> Any:
        nonlocal rebuilds
        appended = await append(*args, **kw)
        rebuilds += 1
        await node.shell.config_changed()  # what an admin edit on any node does
        return appended

    store.append = append_then_rebuild  # type: ignore[method-assign]
    try:
        conv = await start(node, "vi_1", {"name": "Lin"})
    finally:
        store.append = append  # type: ignore[method-assign]
    assert rebuilds == 1 and conv.state == "waiting"
    assert (conv.queue_ids, conv.priority, conv.acceptance) == (["q_flow"], 3, "auto")
    view = node.shell.router.conversation(conv.id)
    assert view is not None and list(view.queue_ids) == ["q_flow"] and view.priority == 3
    # Started once: a second start returns the same conversation.
    again, _ = await node.conversations.start("tp_chat", "vi_1", {})
    assert again.id == conv.id


async def test_many_starts_racing_admin_edits_all_succeed(node: Node) -> None:
    """The report's shape: visitors starting while admin edits run alongside."""

    async def edits() -> None:
        for _ in range(15):
            await node.shell.config_changed()
            await asyncio.sleep(0)

    async def visitor(i: int) -> Conversation:
        return await start(node, f"vi_{i}", {})

    results = await asyncio.gather(edits(), *(visitor(i) for i in range(60)))
    convs: list[Any] = results[1:]
    assert len({c.id for c in convs}) == 60
    stored = await node.store.list_conversations(touchpoint_id="tp_chat")
    assert len(stored) == 60
    assert all(c.state == "waiting" and c.queue_ids == ["q_flow"] for c in stored)
    assert node.shell.router.waiting_count() == 60


async def test_a_ringing_conversation_is_in_the_snapshot_inbox_once(
    gateway: GatewayProcess,
) -> None:
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    await agent.login()
    await agent.connect()
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Lin")
    assert agent.sock
    await agent.sock.expect("offer")
    await agent.sock.close()
    snapshot = await agent.connect()  # a reload while it rings
    ids = [row["conversation_id"] for row in snapshot["inbox"]]
    assert ids.count(cid) == 1, snapshot["inbox"]
    assert [row["place"] for row in snapshot["inbox"] if row["conversation_id"] == cid] == [
        "offered"
    ]


async def test_a_wrap_up_needs_a_disposition_when_the_set_has_entries(
    gateway: GatewayProcess,
) -> None:
    """Only the console used to enforce it; the server accepted an empty disposition."""
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor)
    assert (await agent.act("end", cid))["type"] == "ok"
    refused = await agent.act("wrapup", cid, notes="done", disposition="")
    assert refused["type"] == "error" and refused["code"] == "invalid_field"
    assert "Resolved" in refused["message"]
    unknown = await agent.act("wrapup", cid, notes="done", disposition="Maybe")
    assert unknown["type"] == "error" and "Maybe" in unknown["message"]
    assert (await agent.act("wrapup", cid, notes="done", disposition="Resolved"))["type"] == "ok"


def test_the_data_directory_holds_the_default_database(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """GATEWAY_DATA_DIR used to move the secret key but not the default SQLite file."""
    data = tmp_path / "state"
    node = services.start_gateway(
        {"GATEWAY_DATABASE_URL": "", "GATEWAY_SECRET_KEY": "", "GATEWAY_DATA_DIR": str(data)}
    )
    try:
        assert (data / "gateway.db").is_file() and (data / "secret.key").is_file()
    finally:
        node.stop()


async def test_a_rebuild_routes_an_escalation_that_had_not_arrived(node: Node) -> None:
    """An integration's escalation (a transcript, no message) is routed as soon as its
    transcript is stored; a node that died in between left it ``new`` with no message,
    and rebuilds skipped it until the contact wrote again, which a contact waiting for
    the agent they were promised may never do."""
    from gateway.model.integrations import TranscriptLine

    conv, _ = await node.conversations.start("tp_chat", "vi_esc", {"name": "Kim"})
    assert conv.state == "new"
    line = TranscriptLine(sender="contact", text="I need a person")
    await node.store.add_transcript(conv.id, [line], now=1.0)
    await node.shell.config_changed()  # the rebuild another node's start-up would do
    after = await node.store.get_conversation(conv.id)
    assert after.state == "waiting"
    assert node.shell.router.conversation(conv.id) is not None


# A start that finds the contact's live conversation (another node's start made it a
# moment before: tests/integration/test_start_races.py races it on two nodes) joins it,
# and the name it carries names the address's contact if it has none.


async def test_a_joining_start_names_the_contact_if_it_has_none(node: Node) -> None:
    start = node.conversations.start
    conv, contact = await start("tp_chat", "vi_1", {})
    assert contact.name == ""
    joined, named = await start("tp_chat", "vi_1", {"name": "Lin"})
    assert joined.id == conv.id and named.id == contact.id and named.name == "Lin"
    assert (await node.store.get_contact(contact.id)).name == "Lin"
    assert await node.contacts.name(contact.id) == "Lin"
    # a name it has is kept: the first start's
    _, kept = await start("tp_chat", "vi_1", {"name": "Ana"})
    assert kept.name == "Lin" and (await node.store.get_contact(contact.id)).name == "Lin"


async def test_a_joining_start_names_no_other_contact(node: Node) -> None:
    store = node.store
    # a signed identity names its contact itself (and the other start had the same)
    conv, contact = await node.conversations.start("tp_chat", "vi_2", {})
    _, same = await node.conversations.start(
        "tp_chat", "vi_2", {"name": "Lin"}, identity=Identity(email="lin@example.com")
    )
    assert same.id == contact.id and (await store.get_contact(contact.id)).name == ""
    # a conversation at an address that is not its contact's (an integration's
    # interaction id, answered interaction_in_use): that contact is not renamed
    other = await store.create_contact("ct_other", now=1.0)
    await store.create_conversation(
        Conversation(
            id="cv_other",
            touchpoint_id="tp_chat",
            channel="chat",
            contact_id=other.id,
            address="int_1",
            state="new",
            created_at=1.0,
            arrived_at=1.0,
        )
    )
    found, _ = await node.conversations.start("tp_chat", "int_1", {"name": "Lin"})
    assert found.id == "cv_other" and (await store.get_contact(other.id)).name == ""
    assert conv.id != found.id


async def test_a_contacts_retry_on_its_ended_conversation_is_acked_as_a_duplicate(
    node: Node,
) -> None:
    """A message stored whose ack was lost, retried once the conversation has ended (the
    conversation read afresh, as a node that did not hold it last reads it): acked with
    the stored message, not refused as if it had never been sent."""
    conv = await start(node, "vi_retry", {})
    sent = await node.conversations.contact_send(conv, "m-1", "Order 1182")
    await node.endings.end(await node.store.get_conversation(conv.id), "contact")
    ended = await node.store.get_conversation(conv.id)
    assert ended.state == "closed"
    again = await node.conversations.contact_send(ended, "m-1", "Order 1182")
    assert again.duplicate and again.seq == sent.seq and again.message is not None
    assert again.message.body == "Order 1182"
    with pytest.raises(Conflict) as refused:
        await node.conversations.contact_send(ended, "m-2", "more")
    assert refused.value.code == "conversation_ended"
