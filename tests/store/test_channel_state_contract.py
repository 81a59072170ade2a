"""The Store contract for what the core keeps for channel adapters (migration 0006):
cursors that never move back within an epoch, connection status with its times,
message references (first record stands, newest of several wins) and message content.
Run against both implementations."""

from __future__ import annotations

import pytest

from gateway.errors import NotFound
from gateway.model.records import Conversation, Touchpoint
from gateway.ports.store.base import Store


async def _touchpoint(store: Store, tp_id: str = "tp_mail") -> str:
    await store.put_touchpoint(Touchpoint(id=tp_id, name="Mail", channel="email"))
    return tp_id


async def _conversation(store: Store, cid: str, tp_id: str = "tp_mail") -> str:
    try:
        await store.get_contact("k1")
    except NotFound:
        await store.create_contact("k1", now=1.0)
    await store.create_conversation(
        Conversation(
            # one live conversation per address and touchpoint (migration 0018)
            id=cid,
            touchpoint_id=tp_id,
            channel="email",
            contact_id="k1",
            address=f"{cid}@b.example",
        )
    )
    return cid


async def test_cursor_moves_forward_within_an_epoch_and_restarts_with_a_new_one(
    store: Store,
) -> None:
    tp = await _touchpoint(store)
    assert await store.get_cursor(tp, "INBOX") is None
    c = await store.put_cursor(tp, "INBOX", "1700", 5, now=10.0)
    assert (c.epoch, c.position, c.updated_at) == ("1700", 5, 10.0)
    # a late writer (another node that fetched less) never moves it back
    c = await store.put_cursor(tp, "INBOX", "1700", 3, now=11.0)
    assert c.position == 5
    c = await store.put_cursor(tp, "INBOX", "1700", 9, now=12.0)
    assert c.position == 9
    assert await store.get_cursor(tp, "INBOX") == c
    # UIDVALIDITY changed: the old UIDs mean nothing, start over
    c = await store.put_cursor(tp, "INBOX", "1800", 2, now=13.0)
    assert (c.epoch, c.position) == ("1800", 2)
    # streams are separate
    assert await store.get_cursor(tp, "Sent") is None
    # up to 2**32 - 1: IMAP UIDs are unsigned 32-bit
    c = await store.put_cursor(tp, "INBOX", "1800", 2**32 - 1, now=14.0)
    assert c.position == 2**32 - 1


async def test_cursor_of_unknown_touchpoint_is_not_found_and_goes_with_it(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.put_cursor("nope", "INBOX", "1", 1, now=1.0)
    tp = await _touchpoint(store)
    await store.put_cursor(tp, "INBOX", "1", 1, now=1.0)
    await store.set_connection(tp, "connected", now=1.0)
    await store.delete_touchpoint(tp)
    assert await store.get_cursor(tp, "INBOX") is None
    assert await store.get_connection(tp) is None


async def test_connection_status_since_and_connected_at(store: Store) -> None:
    tp = await _touchpoint(store)
    assert await store.get_connection(tp) is None
    before, after = await store.set_connection(tp, "connecting", now=5.0)
    assert before is None
    assert (after.status, after.since, after.connected_at) == ("connecting", 5.0, None)
    before, after = await store.set_connection(tp, "connected", now=6.0)
    assert before is not None and before.status == "connecting"
    assert (after.status, after.since, after.connected_at) == ("connected", 6.0, 6.0)
    # the same status again: since and connected_at stay, the reason is replaced
    _, after = await store.set_connection(tp, "connected", "ok", now=7.0)
    assert (after.since, after.connected_at, after.reason) == (6.0, 6.0, "ok")
    _, lost = await store.set_connection(tp, "lost", "authentication failed", now=8.0)
    assert (lost.status, lost.reason, lost.since, lost.connected_at) == (
        "lost",
        "authentication failed",
        8.0,
        6.0,
    )
    _, back = await store.set_connection(tp, "connected", now=9.0)
    assert (back.since, back.connected_at) == (9.0, 9.0)
    await store.mark_reminded(tp, now=10.0)
    got = await store.get_connection(tp)
    assert got is not None and got.reminded_at == 10.0
    assert [c.touchpoint_id for c in await store.list_connections()] == [tp]
    with pytest.raises(NotFound):
        await store.set_connection("nope", "lost", now=1.0)


async def test_refs_first_record_stands_and_newest_wins(store: Store) -> None:
    tp = await _touchpoint(store)
    a = await _conversation(store, "cv_a")
    b = await _conversation(store, "cv_b")
    r1 = await store.put_ref(tp, "<1@x>", a, 1, now=10.0)
    assert (r1.conversation_id, r1.seq) == (a, 1)
    # a repeat (a re-delivered email) changes nothing
    again = await store.put_ref(tp, "<1@x>", b, 7, now=20.0)
    assert again == r1
    await store.put_ref(tp, "<2@x>", b, 2, now=30.0)
    assert await store.find_ref(tp, []) is None
    assert await store.find_ref(tp, ["<9@x>"]) is None
    found = await store.find_ref(tp, ["<1@x>", "<2@x>", "<9@x>"])
    assert found is not None and found.ref == "<2@x>" and found.conversation_id == b
    # refs are per touchpoint
    other = await _touchpoint(store, "tp_other")
    assert await store.find_ref(other, ["<1@x>"]) is None
    with pytest.raises(NotFound):
        await store.put_ref(tp, "<3@x>", "cv_missing", 1, now=1.0)


async def test_content_is_replaced_listed_and_forgotten_with_the_contact(store: Store) -> None:
    await _touchpoint(store)
    cid = await _conversation(store, "cv_c")
    assert await store.get_content(cid, "m1") is None
    await store.put_content(cid, "m1", {"subject": "Hello", "to": ["a@b.example"]}, now=1.0)
    await store.put_content(cid, "m1", {"subject": "Hello again"}, now=2.0)
    await store.put_content(cid, "m2", {"html": "<p>é</p>"}, now=3.0)
    assert await store.get_content(cid, "m1") == {"subject": "Hello again"}
    assert await store.list_content(cid) == {
        "m1": {"subject": "Hello again"},
        "m2": {"html": "<p>é</p>"},
    }
    with pytest.raises(NotFound):
        await store.put_content("cv_missing", "m1", {}, now=1.0)
    await store.put_ref("tp_mail", "<c@x>", cid, 1, now=1.0)
    # the right to be forgotten: content and references go with the conversations
    await store.delete_contact("k1")
    assert await store.list_content(cid) == {}
    assert await store.find_ref("tp_mail", ["<c@x>"]) is None


async def test_an_uncounted_retry_gives_the_attempt_back(store: Store) -> None:
    """A channel that is down holds its messages (deliveries' ``held``): waiting does not
    use up the attempts a message has."""
    await _touchpoint(store)
    cid = await _conversation(store, "cv_h")
    msg, _ = await store.append_message(
        cid, sender="agent", sender_id="ag", client_msg_id="m", body="hi", now=1.0,
        delivery="pending",
    )  # fmt: skip
    for i in range(5):
        [job] = await store.claim_deliveries(now=10.0 + i, lease=0.5, limit=5)
        assert job.attempts == 1
        await store.retry_delivery(cid, msg.seq, due=10.0 + i, error="down", counted=False)
    [job] = await store.claim_deliveries(now=20.0, lease=0.5, limit=5)
    await store.retry_delivery(cid, msg.seq, due=20.0, error="timeout")
    [job] = await store.claim_deliveries(now=21.0, lease=0.5, limit=5)
    assert job.attempts == 2
