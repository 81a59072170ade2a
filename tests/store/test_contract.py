"""The Store contract (gateway/ports/store/base.py), run against both implementations."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest

from gateway.errors import Conflict, NotFound
from gateway.model.records import (
    Agent,
    AgentSession,
    Contact,
    Conversation,
    DispositionSet,
    FormField,
    GlobalSettings,
    Message,
    Queue,
    Touchpoint,
)
from gateway.ports.store.base import Store
from tests.store.conftest import StoreFactory


def conversation(cid: str, contact_id: str = "k1", **kw: Any) -> Conversation:
    fields: dict[str, Any] = {
        "touchpoint_id": "tp1",
        "channel": "chat",
        "address": f"v-{contact_id}",
        "created_at": 100.0,
        "arrived_at": 100.0,
        **kw,
    }
    return Conversation(id=cid, contact_id=contact_id, **fields)


async def setup_conversation(store: Store, cid: str = "c1", contact_id: str = "k1") -> None:
    address = f"v-{contact_id}"
    try:
        await store.get_contact(contact_id)
        # the contact's next one: an address of its own (one live conversation per
        # address and touchpoint, migration 0018)
        address = f"v-{contact_id}-{cid}"
    except NotFound:
        await store.create_contact(contact_id, now=1.0)
    await store.create_conversation(conversation(cid, contact_id, address=address))


async def setup_conversations(store: Store, count: int) -> list[str]:
    """``count`` open conversations, c0, c1 ..., each with its own contact."""
    convs = [f"c{i}" for i in range(count)]
    for cid in convs:
        await setup_conversation(store, cid, contact_id=f"k{cid}")
    return convs


async def say(
    store: Store, text: str, sender: str = "contact", cid: str = "c1", **kw: Any
) -> Message:
    message, created = await store.append_message(
        cid,
        sender=sender,  # type: ignore[arg-type]
        sender_id=kw.pop("sender_id", f"{sender}-1"),
        client_msg_id=kw.pop("client_msg_id", f"{sender}:{text}"),
        body=text,
        now=kw.pop("now", 200.0),
        **kw,
    )
    assert created
    return message


# -- lifecycle ---------------------------------------------------------------------


async def test_ping_answers_while_open_and_not_after_close(make_store: StoreFactory) -> None:
    s = make_store()
    assert await s.ping() is False
    await s.open()
    await s.open()  # idempotent
    assert await s.ping() is True
    await s.close()
    assert await s.ping() is False


async def test_reopening_keeps_data_and_applies_migrations_once(make_store: StoreFactory) -> None:
    first = make_store()
    await first.open()
    await first.put_queue(Queue(id="q1", name="Support"))
    await first.close()

    second = make_store()
    await second.open()  # migrations already applied: nothing to do, nothing lost
    try:
        assert await second.get_queue("q1") == Queue(id="q1", name="Support")
        c = second._connection()  # type: ignore[attr-defined]
        async with c as conn:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        versions = [r[0] for r in rows]
        assert versions == sorted(set(versions))
        assert versions[0] == 1
    finally:
        await second.close()


async def test_two_stores_opening_at_once_both_succeed(make_store: StoreFactory) -> None:
    a, b = make_store(), make_store()
    await asyncio.gather(a.open(), b.open())
    try:
        await a.put_queue(Queue(id="q1", name="one"))
        assert await b.get_queue("q1") == Queue(id="q1", name="one")
    finally:
        await a.close()
        await b.close()


# -- configuration -------------------------------------------------------------------


async def test_touchpoint_round_trip_replace_list_delete(store: Store) -> None:
    tp = Touchpoint(
        id="tp1",
        name="Website",
        active=True,
        routing_mode="simplified",
        domain="example.com",
        queue_ids=["q1", "q2"],
        dedicated_agent_id="a1",
        flow={"rules": [{"if": {"field": "topic", "equals": "billing"}, "queues": ["q2"]}]},
        widget={"color": "#123456", "texts": {"en": {"title": "Hi"}}, "round": True},
        form=[
            FormField(name="name", label="Name", required=True),
            FormField(name="topic", label="Topic", kind="select", options=["a", "b"]),
        ],
        identity_secret="s3cret",
        require_identity=True,
        preview_roles=["admin"],
        created_at=5.5,
    )
    await store.put_touchpoint(tp)
    got = await store.get_touchpoint("tp1")
    assert got == tp
    assert isinstance(got.form[1], FormField)

    later = Touchpoint(id="tp0", name="Later", created_at=9.0)
    await store.put_touchpoint(later)
    replaced = msgspec.structs.replace(tp, name="Site", active=False, queue_ids=[])
    await store.put_touchpoint(replaced)
    assert await store.list_touchpoints() == [replaced, later]  # by created_at

    await store.delete_touchpoint("tp1")
    with pytest.raises(NotFound):
        await store.get_touchpoint("tp1")
    with pytest.raises(NotFound):
        await store.delete_touchpoint("tp1")
    assert await store.list_touchpoints() == [later]


async def test_deleting_a_touchpoint_keeps_its_conversations(store: Store) -> None:
    await store.put_touchpoint(Touchpoint(id="tp1", name="Website"))
    await setup_conversation(store)
    await store.delete_touchpoint("tp1")
    assert (await store.get_conversation("c1")).touchpoint_id == "tp1"


async def test_queues(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_queue("q1")
    await store.put_queue(Queue(id="q2", name="Sales"))
    await store.put_queue(Queue(id="q1", name="Billing"))
    await store.put_queue(Queue(id="q1", name="Accounts"))
    assert await store.list_queues() == [
        Queue(id="q1", name="Accounts"),
        Queue(id="q2", name="Sales"),
    ]
    await store.delete_queue("q1")
    with pytest.raises(NotFound):
        await store.delete_queue("q1")
    assert await store.list_queues() == [Queue(id="q2", name="Sales")]


async def test_agents_and_case_insensitive_email(store: Store) -> None:
    ann = Agent(
        id="a1",
        email="Ann@Example.com",
        name="Ann",
        role="supervisor",
        queue_ids=["q1"],
        password_hash="$argon2id$x",
        active=False,
    )
    await store.put_agent(ann)
    assert await store.get_agent("a1") == ann
    assert await store.get_agent_by_email("ann@example.COM") == ann
    with pytest.raises(NotFound):
        await store.get_agent_by_email("bob@example.com")
    with pytest.raises(NotFound):
        await store.get_agent("a2")

    # the same agent may change its email's case; another agent may not take it
    ann2 = msgspec.structs.replace(ann, email="ann@example.com", name="Ann B")
    await store.put_agent(ann2)
    with pytest.raises(Conflict):
        await store.put_agent(Agent(id="a2", email="ANN@example.com", name="Impostor"))
    with pytest.raises(NotFound):  # nothing written
        await store.get_agent("a2")
    bob = Agent(id="a2", email="bob@example.com", name="Bob")
    await store.put_agent(bob)
    with pytest.raises(Conflict):  # nor by replacing an existing one
        await store.put_agent(msgspec.structs.replace(bob, email="Ann@example.com"))
    assert await store.get_agent("a2") == bob

    assert await store.list_agents() == [ann2, bob]
    await store.delete_agent("a1")
    with pytest.raises(NotFound):
        await store.delete_agent("a1")
    # the email is free again
    await store.put_agent(Agent(id="a3", email="ANN@example.com", name="Ann again"))
    assert (await store.get_agent_by_email("ann@example.com")).id == "a3"


async def test_disposition_sets(store: Store) -> None:
    ds = DispositionSet(id="ds1", name="Default", dispositions=["Solved", "Callback", "Spam"])
    await store.put_disposition_set(ds)
    assert await store.get_disposition_set("ds1") == ds
    ds2 = DispositionSet(id="ds1", name="Default", dispositions=["Solved"])
    await store.put_disposition_set(ds2)
    assert await store.list_disposition_sets() == [ds2]
    await store.delete_disposition_set("ds1")
    with pytest.raises(NotFound):
        await store.get_disposition_set("ds1")
    with pytest.raises(NotFound):
        await store.delete_disposition_set("ds1")


async def test_settings_default_until_saved(store: Store) -> None:
    assert await store.get_settings() == GlobalSettings()
    custom = GlobalSettings(
        channel_weights={"chat": 30, "email": 5},
        sounds={"offered": "", "reply": "pop"},
        priority_display="numbers",
        disposition_set_id="ds1",
    )
    await store.put_settings(custom)
    assert await store.get_settings() == custom
    await store.put_settings(GlobalSettings(priority_display="numbers"))
    assert await store.get_settings() == GlobalSettings(priority_display="numbers")


# -- agent sessions ------------------------------------------------------------------


async def test_sessions(store: Store) -> None:
    await store.put_agent(Agent(id="a1", email="a@x.org", name="A"))
    session = AgentSession(id="s1", agent_id="a1", created_at=10.0, expires_at=20.0)
    await store.create_session(session)
    assert await store.get_session("s1") == session
    with pytest.raises(Conflict):
        await store.create_session(session)
    with pytest.raises(NotFound):  # sessions belong to existing agents
        await store.create_session(
            AgentSession(id="s2", agent_id="nobody", created_at=1, expires_at=2)
        )

    await store.revoke_session("s1")
    await store.revoke_session("s1")  # idempotent
    assert (await store.get_session("s1")).revoked is True
    with pytest.raises(NotFound):
        await store.revoke_session("s9")
    with pytest.raises(NotFound):
        await store.get_session("s9")

    # every session of one agent at once (log out everywhere), and only theirs
    await store.create_session(AgentSession(id="s4", agent_id="a1", created_at=1, expires_at=2))
    await store.create_session(AgentSession(id="s5", agent_id="a1", created_at=1, expires_at=2))
    assert sorted(await store.revoke_agent_sessions("a1")) == ["s4", "s5"]  # s1 was already
    assert (await store.get_session("s4")).revoked and (await store.get_session("s5")).revoked
    assert await store.revoke_agent_sessions("a1") == []
    assert await store.revoke_agent_sessions("nobody") == []

    # deleting the agent ends its sessions
    await store.create_session(AgentSession(id="s3", agent_id="a1", created_at=1, expires_at=2))
    await store.delete_agent("a1")
    with pytest.raises(NotFound):
        await store.get_session("s3")


# -- contacts ------------------------------------------------------------------------


async def test_contacts_are_numbered_and_found(store: Store) -> None:
    first = await store.create_contact("k1", name="Ann", email="Ann@Example.com", now=1.0)
    second = await store.create_contact("k2", phone="+3312345", now=2.0)
    third = await store.create_contact("k3", now=3.0)
    assert [first.number, second.number, third.number] == [1, 2, 3]
    assert first == Contact(id="k1", number=1, name="Ann", email="Ann@Example.com", created_at=1.0)
    assert await store.get_contact("k2") == second
    assert third.display_name == "Visitor #3"
    with pytest.raises(Conflict):
        await store.create_contact("k1", now=4.0)
    with pytest.raises(NotFound):
        await store.get_contact("k9")

    assert await store.find_contact(email="ANN@example.com") == first
    assert await store.find_contact(phone="+3312345") == second
    assert await store.find_contact(email="nobody@example.com") is None
    assert await store.find_contact(email="nobody@example.com", phone="+3312345") == second
    assert await store.find_contact(email="ann@example.com", phone="+3312345") == first
    assert await store.find_contact() is None
    assert await store.find_contact(phone="") is None  # "" matches no one

    # numbers are never reused, even after the newest contact is deleted
    await store.delete_contact("k3")
    assert (await store.create_contact("k4", now=5.0)).number == 4


async def test_a_saved_contact_is_found_behind_an_unsaved_one(store: Store) -> None:
    first = await store.create_contact("u1", email="ann@example.com", now=1.0)
    later = await store.create_contact("s1", name="Ann B", email="Ann@example.com", now=2.0)
    assert await store.find_contact(email="ann@example.com", saved=True) is None
    later = await store.update_contact("s1", saved=True)
    assert await store.find_contact(email="ANN@example.com", saved=True) == later
    assert await store.find_contact(email="ann@example.com") == first  # the oldest
    await store.create_contact("u2", phone="+3312345", now=3.0)
    assert await store.find_contact(email="x@example.com", phone="+3312345", saved=True) is None
    assert await store.find_contact(email="ann@example.com", phone="+3312345", saved=True) == later


async def test_update_contact(store: Store) -> None:
    await store.create_contact("k1", name="Ann", email="ann@example.com", phone="1", now=1.0)
    updated = await store.update_contact("k1", email="Ann.B@Example.com")
    assert updated == Contact(
        id="k1", number=1, name="Ann", email="Ann.B@Example.com", phone="1", created_at=1.0
    )
    assert await store.find_contact(email="ann.b@example.com") == updated
    assert await store.find_contact(email="ann@example.com") is None
    updated = await store.update_contact("k1", name="", phone="2")
    assert (updated.name, updated.phone, updated.email) == ("", "2", "Ann.B@Example.com")
    assert await store.update_contact("k1") == updated
    assert await store.get_contact("k1") == updated
    with pytest.raises(NotFound):
        await store.update_contact("k9", name="x")
    with pytest.raises(NotFound):
        await store.update_contact("k9")


# -- conversations -------------------------------------------------------------------


async def test_create_and_get_conversation(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    conv = conversation(
        "c1",
        queue_ids=["q1", "q2"],
        priority=3,
        fields={"name": "Ann", "topic": "billing"},
        dedicated=True,
        owner_agent_id="a1",
        weight=25,
        channel="whatsapp",
    )
    assert await store.create_conversation(conv) == conv
    assert await store.get_conversation("c1") == conv
    with pytest.raises(Conflict):
        await store.create_conversation(conv)
    with pytest.raises(NotFound):  # the contact must exist
        await store.create_conversation(conversation("c2", contact_id="nobody"))
    with pytest.raises(NotFound):
        await store.get_conversation("c2")


async def test_new_conversations_start_with_zero_counters(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    created = await store.create_conversation(
        conversation("c1", last_seq=7, contact_unread=2, agent_unread=3)
    )
    assert (created.last_seq, created.contact_unread, created.agent_unread) == (0, 0, 0)
    assert await store.get_conversation("c1") == created
    assert (await say(store, "hello")).seq == 1


async def test_update_conversation(store: Store) -> None:
    await setup_conversation(store)
    updated = await store.update_conversation(
        "c1",
        state="assigned",
        owner_agent_id="a1",
        weight=25,
        acceptance="auto",
        queue_ids=["q9"],
        priority=2,
        dedicated=True,
        notes="called back",
        disposition="Solved",
        ended_at=300.5,
        closed_at=301,
    )
    expected = msgspec.structs.replace(
        conversation("c1"),
        state="assigned",
        owner_agent_id="a1",
        weight=25,
        acceptance="auto",
        queue_ids=["q9"],
        priority=2,
        dedicated=True,
        notes="called back",
        disposition="Solved",
        ended_at=300.5,
        closed_at=301.0,
    )
    assert updated == expected
    assert await store.get_conversation("c1") == expected
    cleared = await store.update_conversation("c1", owner_agent_id=None, ended_at=None)
    assert (cleared.owner_agent_id, cleared.ended_at, cleared.weight) == (None, None, 25)
    assert await store.update_conversation("c1") == cleared

    for bad in ({"last_seq": 9}, {"contact_id": "k2"}, {"id": "x"}, {"agent_unread": 0}):
        with pytest.raises(ValueError):
            await store.update_conversation("c1", **bad)
    with pytest.raises(ValueError):  # an invalid value writes nothing either
        await store.update_conversation("c1", state="bogus", notes="lost")
    with pytest.raises(ValueError):
        await store.update_conversation("c1", priority="high")
    assert await store.get_conversation("c1") == cleared
    with pytest.raises(NotFound):
        await store.update_conversation("nope", state="closed")


async def test_list_conversations_filters_and_order(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    await store.create_contact("k2", now=1.0)
    specs = [
        ("c3", "k1", "waiting", "tp1", 30.0),
        ("c1", "k2", "assigned", "tp2", 10.0),
        ("c2", "k1", "closed", "tp1", 10.0),
        ("c4", "k2", "waiting", "tp1", 5.0),
    ]
    for cid, contact, state, tp, at in specs:
        await store.create_conversation(
            conversation(cid, contact, state=state, touchpoint_id=tp, created_at=at)
        )

    def ids(convs: list[Conversation]) -> list[str]:
        return [c.id for c in convs]

    assert ids(await store.list_conversations()) == ["c4", "c1", "c2", "c3"]  # created_at, id
    assert ids(await store.list_conversations(states=["waiting", "assigned"])) == ["c4", "c1", "c3"]
    assert ids(await store.list_conversations(states=[])) == []
    assert ids(await store.list_conversations(contact_id="k1")) == ["c2", "c3"]
    assert ids(await store.list_conversations(address="v-k2")) == ["c4", "c1"]
    assert ids(await store.list_conversations(touchpoint_id="tp1")) == ["c4", "c2", "c3"]
    assert ids(
        await store.list_conversations(states=["waiting"], contact_id="k1", touchpoint_id="tp1")
    ) == ["c3"]
    assert ids(await store.list_conversations(states=["waiting"], address="v-k1")) == ["c3"]
    assert await store.list_conversations(contact_id="nobody") == []


# -- messages ------------------------------------------------------------------------


async def test_append_assigns_seqs_and_bumps_unread(store: Store) -> None:
    await setup_conversation(store)
    m1 = await say(store, "hi", "contact")
    assert m1 == Message(
        conversation_id="c1",
        seq=1,
        sender="contact",
        sender_id="contact-1",
        client_msg_id="contact:hi",
        body="hi",
        created_at=200.0,
    )
    await say(store, "hello?", "contact")
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread, conv.contact_unread) == (2, 2, 0)

    m3 = await say(store, "Ann joined", "system", kind="event")
    assert (m3.seq, m3.kind) == (3, "event")
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread, conv.contact_unread) == (3, 2, 0)  # events: none

    await say(store, "how can I help", "agent")
    await say(store, "auto reply", "system")
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread, conv.contact_unread) == (5, 2, 2)
    assert [m.seq for m in await store.messages("c1")] == [1, 2, 3, 4, 5]

    # seqs are per conversation
    await setup_conversation(store, "c2")
    assert (await say(store, "other", cid="c2")).seq == 1


async def test_append_is_idempotent_on_the_client_message_id(store: Store) -> None:
    await setup_conversation(store)
    first, created = await store.append_message(
        "c1", sender="contact", sender_id="v1", client_msg_id="m-1", body="hi", now=1.0
    )
    assert created is True
    retry, created = await store.append_message(
        "c1", sender="contact", sender_id="v1", client_msg_id="m-1", body="changed", now=2.0
    )
    assert created is False
    assert retry == first  # the original, not the retry's body or time
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread) == (1, 1)  # nothing bumped

    # the key includes the sender and sender id
    other, created = await store.append_message(
        "c1", sender="agent", sender_id="v1", client_msg_id="m-1", body="x", now=3.0
    )
    assert (created, other.seq) == (True, 2)
    other, created = await store.append_message(
        "c1", sender="contact", sender_id="v2", client_msg_id="m-1", body="x", now=3.0
    )
    assert (created, other.seq) == (True, 3)
    # and the conversation
    await setup_conversation(store, "c2")
    elsewhere, created = await store.append_message(
        "c2", sender="contact", sender_id="v1", client_msg_id="m-1", body="x", now=3.0
    )
    assert (created, elsewhere.seq) == (True, 1)
    assert len(await store.messages("c1")) == 3


async def test_an_empty_client_message_id_is_never_deduplicated(store: Store) -> None:
    await setup_conversation(store)
    for _ in range(2):
        _, created = await store.append_message(
            "c1",
            sender="system",
            sender_id="router",
            client_msg_id="",
            body="e",
            now=1.0,
            kind="event",
        )
        assert created
    assert [m.seq for m in await store.messages("c1")] == [1, 2]


@pytest.mark.parametrize("field", ["sender", "kind"])
async def test_an_unknown_sender_or_kind_is_refused_and_stores_nothing(
    store: Store, field: str
) -> None:
    """The store refuses them before writing (``unread_increments``): what PostgreSQL's
    CHECKs on messages also did until migration 0014 (compiled again per statement)."""
    await setup_conversation(store)
    values: dict[str, Any] = {"sender": "contact", "kind": "text", field: "visitor"}
    with pytest.raises(ValueError):
        await store.append("c1", sender_id="v", client_msg_id="m1", body="x", now=1.0, **values)
    assert await store.messages("c1") == []
    assert (await store.get_conversation("c1")).last_seq == 0


async def test_append_returns_the_conversation_as_it_is_after(store: Store) -> None:
    await setup_conversation(store)
    await store.update_conversation("c1", state="assigned", owner_agent_id="a1", weight=25)
    first = await store.append(
        "c1", sender="contact", sender_id="v1", client_msg_id="m-1", body="hi", now=5.0
    )
    assert first.created and first.message.seq == 1
    assert first.conversation == await store.get_conversation("c1")
    assert (first.conversation.last_seq, first.conversation.agent_unread) == (1, 1)
    assert first.conversation.owner_agent_id == "a1"
    # A retry stores nothing and still says how the conversation is now.
    await say(store, "from the agent", "agent")
    again = await store.append(
        "c1", sender="contact", sender_id="v1", client_msg_id="m-1", body="hi", now=6.0
    )
    assert not again.created and again.message == first.message
    assert again.conversation == await store.get_conversation("c1")
    assert (again.conversation.last_seq, again.conversation.contact_unread) == (2, 1)
    with pytest.raises(NotFound):
        await store.append(
            "nope", sender="contact", sender_id="v", client_msg_id="m", body="x", now=1.0
        )


async def test_append_to_an_unknown_conversation(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.append_message(
            "nope", sender="contact", sender_id="v", client_msg_id="m", body="x", now=1.0
        )
    with pytest.raises(NotFound):
        await store.append_message(
            "nope", sender="contact", sender_id="v", client_msg_id="", body="x", now=1.0
        )


async def test_concurrent_appends_get_gapless_unique_seqs(store: Store) -> None:
    await setup_conversation(store)
    results = await asyncio.gather(
        *(
            store.append_message(
                "c1", sender="contact", sender_id="v", client_msg_id=f"m{i}", body=str(i), now=1.0
            )
            for i in range(50)
        )
    )
    assert all(created for _, created in results)
    assert sorted(m.seq for m, _ in results) == list(range(1, 51))
    stored = await store.messages("c1", limit=100)
    assert [m.seq for m in stored] == list(range(1, 51))
    assert sorted(m.client_msg_id for m in stored) == sorted(f"m{i}" for i in range(50))
    # each stored body is the one its seq was returned with
    assert {m.seq: m.body for m, _ in results} == {m.seq: m.body for m in stored}
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread) == (50, 50)


async def test_concurrent_retries_store_one_message(store: Store) -> None:
    await setup_conversation(store)
    await say(store, "before")
    results = await asyncio.gather(
        *(
            store.append_message(
                "c1", sender="contact", sender_id="v", client_msg_id="same", body="x", now=1.0
            )
            for _ in range(20)
        )
    )
    assert sum(created for _, created in results) == 1
    assert {m for m, _ in results} == {results[0][0]}  # all return the one message
    assert results[0][0].seq == 2
    assert [m.seq for m in await store.messages("c1")] == [1, 2]
    conv = await store.get_conversation("c1")
    assert (conv.last_seq, conv.agent_unread) == (2, 2)
    assert (await say(store, "after")).seq == 3  # no seq was burnt by the retries


async def test_messages_paging(store: Store) -> None:
    await setup_conversation(store)
    for i in range(1, 11):
        await say(store, f"m{i}", "contact" if i % 2 else "agent")

    def seqs(ms: list[Message]) -> list[int]:
        return [m.seq for m in ms]

    assert seqs(await store.messages("c1")) == list(range(1, 11))
    assert seqs(await store.messages("c1", limit=3)) == [1, 2, 3]
    assert seqs(await store.messages("c1", after_seq=7)) == [8, 9, 10]
    assert seqs(await store.messages("c1", after_seq=2, limit=2)) == [3, 4]
    # before_seq: the last `limit` before it, ascending
    assert seqs(await store.messages("c1", before_seq=8, limit=3)) == [5, 6, 7]
    assert seqs(await store.messages("c1", before_seq=11, limit=2)) == [9, 10]
    assert seqs(await store.messages("c1", before_seq=3, limit=5)) == [1, 2]
    assert seqs(await store.messages("c1", after_seq=4, before_seq=8, limit=10)) == [5, 6, 7]
    assert seqs(await store.messages("c1", after_seq=5, before_seq=9, limit=2)) == [7, 8]
    assert await store.messages("c1", before_seq=1) == []
    assert await store.messages("c1", after_seq=10) == []
    assert await store.messages("c1", limit=0) == []
    page = await store.messages("c1", after_seq=1, limit=1)
    assert page[0].body == "m2" and page[0].sender == "agent"

    await setup_conversation(store, "empty")
    assert await store.messages("empty") == []
    with pytest.raises(NotFound):
        await store.messages("nope")


async def test_mark_read(store: Store) -> None:
    await setup_conversation(store)
    await say(store, "v1", "contact")  # 1
    await say(store, "a1", "agent")  # 2
    await say(store, "v2", "contact")  # 3
    await say(store, "joined", "system", kind="event")  # 4
    await say(store, "a2", "agent")  # 5
    await say(store, "s1", "system")  # 6
    await say(store, "v3", "contact")  # 7
    conv = await store.get_conversation("c1")
    assert (conv.agent_unread, conv.contact_unread) == (3, 3)

    conv = await store.mark_read("c1", "agent", 3)
    assert (conv.agent_unread, conv.contact_unread) == (1, 3)  # only v3 is after 3
    conv = await store.mark_read("c1", "contact", 2)
    assert (conv.agent_unread, conv.contact_unread) == (1, 2)  # a2 and s1; the event is no text
    # never backwards: reading up to 1 again changes nothing
    conv = await store.mark_read("c1", "agent", 1)
    assert conv.agent_unread == 1
    conv = await store.mark_read("c1", "agent", 7)
    assert conv.agent_unread == 0
    assert await store.get_conversation("c1") == conv

    # a new message counts again; a marker beyond last_seq does not hide future messages
    await say(store, "v4", "contact")  # 8
    conv = await store.mark_read("c1", "contact", 999)
    assert (conv.agent_unread, conv.contact_unread) == (1, 0)
    await say(store, "a3", "agent")  # 9
    conv = await store.mark_read("c1", "contact", 0)
    assert conv.contact_unread == 1
    with pytest.raises(NotFound):
        await store.mark_read("nope", "agent", 1)
    with pytest.raises(ValueError):
        await store.mark_read("c1", "queue", 1)  # type: ignore[arg-type]


async def test_append_rejects_unknown_sender_or_kind(store: Store) -> None:
    await setup_conversation(store)
    bad_sender: Any = "bot"
    bad_kind: Any = "img"
    with pytest.raises(ValueError):
        await store.append_message(
            "c1",
            sender=bad_sender,
            sender_id="b",
            client_msg_id="m",
            body="x",
            now=1.0,
        )
    with pytest.raises(ValueError):
        await store.append_message(
            "c1",
            sender="agent",
            sender_id="b",
            client_msg_id="m",
            body="x",
            now=1.0,
            kind=bad_kind,
        )
    assert await store.messages("c1") == []


# -- deletion and export -----------------------------------------------------------------


async def test_delete_contact_removes_its_conversations_and_messages(store: Store) -> None:
    await setup_conversation(store, "c1", "k1")
    await setup_conversation(store, "c2", "k1")
    await setup_conversation(store, "c3", "k2")
    await say(store, "hi", cid="c1")
    await say(store, "there", cid="c2")
    await say(store, "keep me", cid="c3")

    assert await store.delete_contact("k1") == 2
    for gone in ("c1", "c2"):
        with pytest.raises(NotFound):
            await store.get_conversation(gone)
        with pytest.raises(NotFound):
            await store.messages(gone)
    with pytest.raises(NotFound):
        await store.get_contact("k1")
    with pytest.raises(NotFound):
        await store.delete_contact("k1")
    with pytest.raises(NotFound):
        await store.export_contact("k1")
    assert [m.body for m in await store.messages("c3")] == ["keep me"]
    assert await store.list_conversations() == [await store.get_conversation("c3")]

    # a conversation id of a forgotten contact can be used again, from seq 1
    await setup_conversation(store, "c1", "k2")
    assert (await say(store, "new", cid="c1")).seq == 1
    await store.create_contact("k5", now=1.0)
    assert await store.delete_contact("k5") == 0


async def test_export_contact(store: Store) -> None:
    contact = await store.create_contact("k1", name="Ann", email="ann@example.com", now=1.0)
    await store.create_contact("k2", now=1.0)
    await store.create_conversation(conversation("late", "k1", created_at=50.0, fields={"a": "b"}))
    await store.create_conversation(conversation("early", "k1", created_at=20.0, state="closed"))
    await store.create_conversation(conversation("other", "k2"))
    await say(store, "second", cid="late")
    await say(store, "reply", "agent", cid="late")
    await say(store, "first", cid="early")
    await say(store, "not hers", cid="other")

    data = await store.export_contact("k1")
    assert json.loads(json.dumps(data)) == data  # plain JSON-able builtins
    assert data["contact"] == msgspec.to_builtins(contact)
    assert [c["id"] for c in data["conversations"]] == ["early", "late"]
    late = data["conversations"][1]
    assert late["fields"] == {"a": "b"}
    assert late["last_seq"] == 2
    assert [(m["seq"], m["body"], m["sender"]) for m in late["messages"]] == [
        (1, "second", "contact"),
        (2, "reply", "agent"),
    ]
    assert [m["body"] for m in data["conversations"][0]["messages"]] == ["first"]
    # the conversation part round-trips into the record type
    conv = msgspec.convert({k: v for k, v in late.items() if k != "messages"}, Conversation)
    assert conv == await store.get_conversation("late")

    empty = await store.export_contact("k2")
    assert [len(c["messages"]) for c in empty["conversations"]] == [1]
    with pytest.raises(NotFound):
        await store.export_contact("nobody")


async def test_every_record_field_has_a_column(store: Store) -> None:
    """Adding a field to a record in gateway/model/records.py needs a migration: this
    says which."""
    from gateway.ports.store import _rows

    tables: list[_rows.Table[Any]] = [
        _rows.TOUCHPOINTS,
        _rows.QUEUES,
        _rows.AGENTS,
        _rows.DISPOSITION_SETS,
        _rows.SESSIONS,
        _rows.CONTACTS,
        _rows.CONVERSATIONS,
        _rows.TEMPLATES,
        _rows.NOTES,
        _rows.ATTACHMENTS,
        _rows.RATINGS,
        _rows.REFUSALS,
    ]
    async with store._connection() as c:  # type: ignore[attr-defined]
        for table in tables:
            await c.fetch(f"{table.select} WHERE 1 = 0")  # raises on a missing column
        await c.fetch(f"{_rows.SELECT_MESSAGES} WHERE 1 = 0")
    assert set(Message.__struct_fields__) == set(_rows.MESSAGE_COLUMNS.split(", "))
