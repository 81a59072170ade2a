"""The Store contract for the agent's workspace and the supervisor's view (statuses,
contacts merged and searched, history search, report facts, templates, notes), run
against both implementations."""

from __future__ import annotations

import pytest

from gateway.errors import Conflict, NotFound
from gateway.model.records import Agent, ConversationNote, Template
from gateway.ports.store.base import HistoryFilter, Store
from tests.store.test_contract import conversation, say


async def test_chosen_statuses_are_kept(store: Store) -> None:
    await store.put_agent(Agent(id="a1", email="a1@x", name="A"))
    await store.put_agent(Agent(id="a2", email="a2@x", name="B"))
    assert await store.agent_statuses() == {}
    await store.set_agent_status("a1", "away", 10.0)
    await store.set_agent_status("a2", "away", 10.0)
    await store.set_agent_status("a2", "available", 11.0)
    assert await store.agent_statuses() == {"a1": "away", "a2": "available"}
    with pytest.raises(NotFound):
        await store.set_agent_status("nobody", "away", 12.0)
    await store.delete_agent("a1")
    assert await store.agent_statuses() == {"a2": "available"}


async def test_merge_moves_addresses_and_conversations_then_deletes(store: Store) -> None:
    await store.create_contact("anon", now=1.0, address=("chat", "v1"))
    await store.create_contact("known", name="Ann", email="ann@x", now=1.0, saved=True)
    await store.link_address("sms", "+15550001", "known", now=2.0)
    await store.create_conversation(conversation("c1", "anon", address="v1"))
    await store.create_conversation(
        conversation("c2", "anon", address="v1", created_at=101.0, state="closed")
    )
    merged = await store.merge_contacts("anon", "known")
    assert merged.id == "known" and merged.saved
    assert {a.address for a in await store.contact_addresses("known")} == {"v1", "+15550001"}
    assert [c.id for c in await store.list_conversations(contact_id="known")] == ["c1", "c2"]
    assert (await store.find_contact_by_address("chat", "v1")).id == "known"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.get_contact("anon")
    with pytest.raises(NotFound):
        await store.merge_contacts("anon", "known")
    with pytest.raises(NotFound):
        await store.merge_contacts("known", "nobody")
    with pytest.raises(ValueError):
        await store.merge_contacts("known", "known")


async def test_a_failed_merge_changes_nothing(store: Store) -> None:
    await store.create_contact("anon", now=1.0, address=("chat", "v1"))
    with pytest.raises(NotFound):
        await store.merge_contacts("anon", "missing")
    assert (await store.find_contact_by_address("chat", "v1")).id == "anon"  # type: ignore[union-attr]


async def test_search_contacts_finds_saved_ones_only(store: Store) -> None:
    await store.create_contact("k1", name="Ann Lee", email="ANN@shop.example", now=1.0, saved=True)
    await store.create_contact("k2", name="Bob", phone="+15550002", now=1.0, saved=True)
    await store.create_contact("k3", name="Ann Anonymous", now=1.0)
    assert [c.id for c in await store.search_contacts("ann")] == ["k1"]
    assert [c.id for c in await store.search_contacts("shop.EXAMPLE")] == ["k1"]
    assert [c.id for c in await store.search_contacts("5550002")] == ["k2"]
    assert await store.search_contacts("%") == []  # wildcards are literal
    assert await store.search_contacts("  ") == []
    await store.update_contact("k3", saved=True)
    assert [c.id for c in await store.search_contacts("ann")] == ["k1", "k3"]


async def _history(store: Store) -> None:
    await store.create_contact("k1", name="Ann", email="ann@x", now=1.0, saved=True)
    await store.create_contact("k2", name="Bob", now=1.0)
    rows = [
        ("c1", "k1", 100.0, "tp1", ["q1"], "a1", "closed"),
        ("c2", "k1", 200.0, "tp2", ["q1", "q2"], "a2", "closed"),
        ("c3", "k2", 300.0, "tp1", ["q2"], "a1", "closed"),
        ("c4", "k2", 400.0, "tp1", ["q2"], "a1", "assigned"),
    ]
    for cid, contact, at, tp, queues, agent, state in rows:
        await store.create_conversation(
            conversation(cid, contact, created_at=at, arrived_at=at, touchpoint_id=tp)
        )
        await store.update_conversation(cid, queue_ids=queues, owner_agent_id=agent, state=state)


async def test_search_conversations_filters_and_pages(store: Store) -> None:
    await _history(store)

    async def ids(**kw: object) -> list[str]:
        return [c.id for c in await store.search_conversations(HistoryFilter(**kw))]  # type: ignore[arg-type]

    assert await ids() == ["c3", "c2", "c1"]  # closed only, newest first
    assert await ids(states=("closed", "assigned")) == ["c4", "c3", "c2", "c1"]
    assert await ids(text="ANN") == ["c2", "c1"]
    assert await ids(text="ann@") == ["c2", "c1"]
    assert await ids(text="v-k2") == ["c3"]  # the channel address itself
    assert await ids(contact_id="k2") == ["c3"]
    assert await ids(touchpoint_id="tp1") == ["c3", "c1"]
    assert await ids(queue_id="q2") == ["c3", "c2"]
    assert await ids(queue_id="q") == []
    assert await ids(agent_id="a1") == ["c3", "c1"]
    assert await ids(since=200.0, until=300.0) == ["c2"]
    assert await ids(limit=2) == ["c3", "c2"]
    assert await ids(limit=2, before=(200.0, "c2")) == ["c1"]
    assert await ids(text="%") == []
    assert await ids(states=()) == []


async def test_report_facts(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    # one live conversation per address and touchpoint (migration 0018)
    for cid, at in (("c1", 100.0), ("c2", 200.0), ("c3", 900.0)):
        await store.create_conversation(
            conversation(cid, created_at=at, arrived_at=at, address=f"v-{cid}")
        )
    await store.update_conversation("c1", queue_ids=["q1"], owner_agent_id="a1", state="closed")
    await store.update_conversation("c1", ended_at=160.0)
    await say(store, "hi", cid="c1", now=101.0)
    await say(
        store,
        '{"event":"agent_joined","agent_name":"A"}',
        sender="system",
        cid="c1",
        now=130.0,
        kind="event",
    )
    await say(
        store,
        '{"event":"agent_joined","agent_name":"B"}',
        sender="system",
        cid="c1",
        now=140.0,
        kind="event",
        client_msg_id="second",
    )
    await store.update_conversation("c2", state="closed", ended_at=250.0)
    facts = await store.report_facts(100.0, 900.0)
    assert [f.conversation_id for f in facts] == ["c1", "c2"]
    c1, c2 = facts
    assert (c1.queue_ids, c1.agent_id, c1.state, c1.joined_at, c1.ended_at) == (
        ["q1"],
        "a1",
        "closed",
        130.0,
        160.0,
    )
    assert (c2.joined_at, c2.agent_id, c2.ended_at) == (None, None, 250.0)


async def test_templates(store: Store) -> None:
    t = Template(
        id="t1",
        collection="Sales",
        name="Greeting",
        content={"default": "Hi {{contact.name}}", "sms": "Hi"},
        created_at=1.0,
    )
    await store.put_template(t)
    await store.put_template(Template(id="t0", collection="Support", name="A", created_at=2.0))
    await store.put_template(Template(id="t2", collection="Sales", name="Bye", created_at=3.0))
    assert await store.get_template("t1") == t
    assert [x.id for x in await store.list_templates()] == ["t2", "t1", "t0"]
    await store.put_template(Template(id="t1", collection="Sales", name="Hello", created_at=1.0))
    assert (await store.get_template("t1")).content == {}
    await store.delete_template("t1")
    with pytest.raises(NotFound):
        await store.get_template("t1")
    with pytest.raises(NotFound):
        await store.delete_template("t1")


async def test_notes_are_kept_apart_from_messages(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    await store.create_conversation(conversation("c1"))
    n1 = ConversationNote(id="n1", conversation_id="c1", agent_id="a1", body="VIP", created_at=5.0)
    n2 = ConversationNote(id="n2", conversation_id="c1", agent_id="a2", body="two", created_at=6.0)
    await store.add_note(n2)
    await store.add_note(n1)
    assert await store.notes("c1") == [n1, n2]
    assert await store.messages("c1") == []
    assert (await store.get_conversation("c1")).last_seq == 0
    with pytest.raises(Conflict):
        await store.add_note(n1)
    with pytest.raises(NotFound):
        await store.add_note(
            ConversationNote(
                id="n3", conversation_id="nope", agent_id="a", body="x", created_at=1.0
            )
        )
    with pytest.raises(NotFound):
        await store.notes("nope")
    # The right to access: the export carries them; the right to be forgotten takes them.
    exported = await store.export_contact("k1")
    assert [n["body"] for n in exported["conversations"][0]["conversation_notes"]] == [
        "VIP",
        "two",
    ]
    await store.delete_contact("k1")
    with pytest.raises(NotFound):
        await store.notes("c1")
