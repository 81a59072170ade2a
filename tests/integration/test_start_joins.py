"""A start that finds the contact's live conversation (another node's start made it a
moment before: tests/integration/test_start_races.py races it on two nodes) joins it, and
the name it carries names the address's contact if it has none: on one node, in
process, where each case can be set up exactly."""

from __future__ import annotations

from gateway.app import Node
from gateway.auth import Identity
from gateway.model.records import Conversation
from tests.gateway.test_regressions import node  # noqa: F401  (the in-process node)


async def test_a_joining_start_names_the_contact_if_it_has_none(node: Node) -> None:  # noqa: F811
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


async def test_a_joining_start_names_no_other_contact(node: Node) -> None:  # noqa: F811
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
