"""The Store contract for the channel-neutral parts: contacts' channel addresses, and
outbound delivery (pending messages as jobs, claims, retries, provider ids, states that
never move backwards). Run against both implementations."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import NotFound
from gateway.model.records import Conversation
from gateway.ports.store.base import Store


async def conversation(store: Store, cid: str, contact_id: str = "k1") -> Conversation:
    try:
        await store.get_contact(contact_id)
    except NotFound:
        await store.create_contact(contact_id, now=1.0)
    return await store.create_conversation(
        Conversation(
            id=cid,
            touchpoint_id="tp_sms",
            channel="sms",
            contact_id=contact_id,
            # one live conversation per address and touchpoint (migration 0018)
            address="+15550001" if cid == "c1" else f"+1555000{cid}",
            created_at=10.0,
            arrived_at=10.0,
        )
    )


async def agent_says(store: Store, cid: str, text: str, now: float = 20.0) -> int:
    msg, created = await store.append_message(
        cid,
        sender="agent",
        sender_id="ag",
        client_msg_id=f"{cid}:{text}",
        body=text,
        now=now,
        delivery="pending",
    )
    assert created and msg.delivery == "pending"
    return msg.seq


# -- addresses ------------------------------------------------------------------------


async def test_addresses_find_link_and_move_contacts(store: Store) -> None:
    a = await store.create_contact("ka", name="A", now=1.0, address=("sms", "+15550001"))
    b = await store.create_contact("kb", name="B", now=2.0)
    assert (await store.find_contact_by_address("sms", "+15550001")) == a
    assert await store.find_contact_by_address("whatsapp", "15550001") is None
    # the same address string on another channel is another address
    await store.link_address("whatsapp", "+15550001", b.id, now=3.0)
    assert (await store.find_contact_by_address("whatsapp", "+15550001")) == b
    # linking an address to another contact moves it
    await store.link_address("sms", "+15550001", b.id, now=4.0)
    assert (await store.find_contact_by_address("sms", "+15550001")) == b
    assert [x.address for x in await store.contact_addresses(a.id)] == []
    # oldest first: an address keeps when it was first seen when it moves
    assert [(x.channel, x.address) for x in await store.contact_addresses(b.id)] == [
        ("sms", "+15550001"),
        ("whatsapp", "+15550001"),
    ]
    with pytest.raises(NotFound):
        await store.link_address("sms", "+1999", "nobody", now=5.0)
    # deleting the contact deletes its addresses
    await store.delete_contact(b.id)
    assert await store.find_contact_by_address("sms", "+15550001") is None


async def test_a_contact_and_its_address_are_created_together(store: Store) -> None:
    await store.create_contact("ka", now=1.0, address=("chat", "vi_1"))
    with pytest.raises(Exception):  # noqa: B017 - the id is taken: nothing is linked
        await store.create_contact("ka", now=2.0, address=("chat", "vi_2"))
    assert await store.find_contact_by_address("chat", "vi_2") is None


# -- delivery -------------------------------------------------------------------------


async def test_pending_messages_are_claimed_once_per_lease_and_in_order(store: Store) -> None:
    await conversation(store, "c1")
    first = await agent_says(store, "c1", "one")
    second = await agent_says(store, "c1", "two")
    assert await store.claim_deliveries(now=19.0, lease=30.0, limit=10) == []  # not due yet
    [job] = await store.claim_deliveries(now=20.0, lease=30.0, limit=10)
    assert (job.message.seq, job.attempts, job.conversation.id) == (first, 1, "c1")
    # claimed: not again before the lease ends, and the later message waits its turn
    assert await store.claim_deliveries(now=40.0, lease=30.0, limit=10) == []
    # the claimer died: the lease ran out, another claims it
    [again] = await store.claim_deliveries(now=51.0, lease=30.0, limit=10)
    assert (again.message.seq, again.attempts) == (first, 2)
    sent, moved = await store.set_delivery("c1", first, "sent", provider_id="SM1")
    assert moved
    assert (sent.delivery, sent.provider_id) == ("sent", "SM1")
    [nxt] = await store.claim_deliveries(now=52.0, lease=30.0, limit=10)
    assert (nxt.message.seq, nxt.attempts) == (second, 1)
    assert (await store.message_by_provider_id("SM1")) == sent
    assert await store.message_by_provider_id("SM-unknown") is None
    assert await store.message_by_provider_id("") is None


async def test_a_retry_makes_it_due_later_and_failure_ends_it(store: Store) -> None:
    await conversation(store, "c1")
    seq = await agent_says(store, "c1", "hello")
    [job] = await store.claim_deliveries(now=20.0, lease=30.0, limit=10)
    await store.retry_delivery("c1", seq, due=25.0, error="timeout")
    assert await store.claim_deliveries(now=24.0, lease=30.0, limit=10) == []
    [job] = await store.claim_deliveries(now=25.0, lease=30.0, limit=10)
    assert job.attempts == 2 and job.message.delivery_error == "timeout"
    failed, _ = await store.set_delivery("c1", seq, "failed", "the number is unsubscribed")
    assert failed.delivery == "failed"
    assert await store.claim_deliveries(now=1000.0, lease=30.0, limit=10) == []
    # a retry of a message no longer pending changes nothing
    await store.retry_delivery("c1", seq, due=1.0, error="late")
    assert (await store.messages("c1"))[0].delivery_error == "the number is unsubscribed"


async def test_delivery_states_never_move_backwards(store: Store) -> None:
    await conversation(store, "c1")
    seq = await agent_says(store, "c1", "hi")
    for state in ("sent", "delivered", "read"):
        msg, moved = await store.set_delivery("c1", seq, state)  # type: ignore[arg-type]
        assert (msg.delivery, moved) == (state, True)
    for late in ("sent", "delivered", "failed", "pending", "read"):
        msg, moved = await store.set_delivery("c1", seq, late)  # type: ignore[arg-type]
        assert (msg.delivery, moved) == ("read", False)
    seq2 = await agent_says(store, "c1", "again")
    await store.set_delivery("c1", seq2, "failed", "carrier refused")
    msg, moved = await store.set_delivery("c1", seq2, "delivered")
    assert (msg.delivery, moved) == ("failed", False)
    with pytest.raises(NotFound):
        await store.set_delivery("c1", 99, "sent")
    with pytest.raises(ValueError):
        await store.set_delivery("c1", seq, "lost")  # type: ignore[arg-type]


async def test_of_reports_arriving_together_one_moves_the_state(store: Store) -> None:
    """Two nodes taking the same provider callback at once: one of them tells the
    agents (PostgreSQL: the row is locked while read; before, both read "pending")."""
    await conversation(store, "c1")
    seq = await agent_says(store, "c1", "hi")
    for state in ("sent", "delivered"):
        results = await asyncio.gather(
            *(store.set_delivery("c1", seq, state) for _ in range(8))  # type: ignore[arg-type]
        )
        assert [moved for _, moved in results].count(True) == 1
        assert {msg.delivery for msg, _ in results} == {state}


async def test_concurrent_claims_never_take_the_same_message(store: Store) -> None:
    for i in range(6):
        await conversation(store, f"c{i}", contact_id=f"k{i}")
        await agent_says(store, f"c{i}", "hi")
    results = await asyncio.gather(
        *(store.claim_deliveries(now=20.0, lease=30.0, limit=2) for _ in range(5))
    )
    claimed = [job.message.conversation_id for jobs in results for job in jobs]
    assert sorted(claimed) == [f"c{i}" for i in range(6)]


async def test_messages_without_delivery_are_no_jobs(store: Store) -> None:
    await conversation(store, "c1")
    await store.append_message(
        "c1", sender="contact", sender_id="+15550001", client_msg_id="in-1", body="hi", now=20.0
    )
    assert await store.claim_deliveries(now=1000.0, lease=30.0, limit=10) == []


# -- the messaging channels' rules and the admins' notices (migration 0010) -------------


async def test_when_the_contact_last_wrote(store: Store) -> None:
    conv = await conversation(store, "c1")
    assert await store.last_contact_message_at(conv.id) is None
    await agent_says(store, conv.id, "hello", now=20.0)
    assert await store.last_contact_message_at(conv.id) is None  # agents open no window
    for at in (30.0, 45.5):
        await store.append_message(
            conv.id,
            sender="contact",
            sender_id=conv.address,
            client_msg_id=f"in{at}",
            body="hi",
            now=at,
        )
    await agent_says(store, conv.id, "later", now=50.0)
    assert await store.last_contact_message_at(conv.id) == 45.5


async def test_opt_outs_are_per_channel_and_address(store: Store) -> None:
    assert not await store.is_opted_out("sms", "+15550001")
    assert await store.set_opt_out("sms", "+15550001", True, now=1.0)
    assert not await store.set_opt_out("sms", "+15550001", True, now=2.0)  # already
    assert await store.is_opted_out("sms", "+15550001")
    assert not await store.is_opted_out("sms", "+15550002")
    assert not await store.is_opted_out("whatsapp", "+15550001")
    assert await store.set_opt_out("sms", "+15550001", False, now=3.0)
    assert not await store.set_opt_out("sms", "+15550001", False, now=4.0)
    assert not await store.is_opted_out("sms", "+15550001")


async def test_admin_notices_newest_first(store: Store) -> None:
    from gateway.errors import Conflict
    from gateway.model.records import AdminNotice

    notices = [
        AdminNotice(id=f"n{i}", kind="sending_refused", message=f"m{i}", created_at=float(i))
        for i in range(1, 5)
    ]
    for n in notices:
        await store.add_notice(n)
    with pytest.raises(Conflict):
        await store.add_notice(notices[0])
    assert await store.list_notices() == notices[::-1]
    assert await store.list_notices(limit=2) == [notices[3], notices[2]]
    assert await store.list_notices(after=(3.0, "")) == [notices[1], notices[0]]
    full = AdminNotice(
        id="nx",
        kind="provider_error",
        message="x",
        touchpoint_id="tp",
        conversation_id="cv",
        created_at=9.0,
    )
    await store.add_notice(full)
    assert (await store.list_notices(limit=1)) == [full]
    # the same instant across a page's end: by id then
    same = [
        AdminNotice(id=f"s{i}", kind="sending_refused", message="s", created_at=20.0)
        for i in range(3)
    ]
    for n in same:
        await store.add_notice(n)
    first = await store.list_notices(limit=2)
    assert first == [same[2], same[1]]
    last = first[-1]
    assert await store.list_notices(limit=2, after=(last.created_at, last.id)) == [
        same[0],
        full,
    ]


async def test_a_late_send_record_keeps_the_providers_id(store: Store) -> None:
    """A status callback that overtook the record of the send moved the message on; the
    provider's id recorded after it still maps later callbacks back."""
    conv = await conversation(store, "c1")
    seq = await agent_says(store, conv.id, "hi")
    await store.set_delivery(conv.id, seq, "delivered")
    msg, moved = await store.set_delivery(conv.id, seq, "sent", provider_id="SM1")
    assert (msg.delivery, msg.provider_id, moved) == ("delivered", "SM1", False)
    found = await store.message_by_provider_id("SM1")
    assert found is not None and found.seq == seq
