"""History retention in the store (``purge_closed_conversations``), on both databases:
closed conversations older than the cut go with all that is theirs, the oldest first, a
batch at a time; open ones and newer ones stay, and so does the contact; two stores
purging the same database at once delete each conversation once."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from gateway.errors import NotFound
from gateway.model.records import ConversationNote
from gateway.ports.store._attachments import queue_blobs_of
from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from tests.store.conftest import StoreFactory
from tests.store.test_announce_contract import _waiting_on_locks
from tests.store.test_attachments import send, upload
from tests.store.test_contract import conversation, say
from tests.store.test_feedback import rating

CUT = 1000.0  # "closed before" in these tests


async def make(
    store: Store, cid: str, state: str = "closed", created: float = 100.0, **kw: Any
) -> None:
    """A conversation of contact k1 (its own address: one live one per address)."""
    try:
        await store.get_contact("k1")
    except NotFound:
        await store.create_contact("k1", now=1.0)
    await store.create_conversation(
        conversation(cid, "k1", address=f"v-{cid}", state=state, created_at=created, **kw)
    )


async def test_an_old_closed_conversation_goes_with_all_that_is_its(store: Store) -> None:
    await make(store, "old", closed_at=CUT - 1, ended_at=CUT - 1)
    await make(store, "recent", closed_at=CUT + 1, ended_at=CUT + 1)
    # open, whatever their age: live, and ended but still in wrap-up
    await make(store, "live", state="assigned")
    await make(store, "wrapup", state="wrapup", ended_at=10.0)
    for cid in ("old", "recent", "live", "wrapup"):
        await say(store, f"hello {cid}", cid=cid)
        await store.create_attachment(upload(f"a-{cid}", cid=cid, who="v-k1", thumb_key=""))
    await store.create_attachment(upload("a-old2", cid="old", who="v-k1", thumb_key="old/t"))
    await send(store, ["a-old"], cid="old", sender_id="v-k1")
    await store.add_note(
        ConversationNote(id="n1", conversation_id="old", agent_id="a", body="VIP", created_at=5.0)
    )
    await store.put_rating(rating("old"))

    assert await store.purge_closed_conversations(CUT, 500) == 1

    with pytest.raises(NotFound):
        await store.get_conversation("old")
    with pytest.raises(NotFound):
        await store.messages("old")
    with pytest.raises(NotFound):
        await store.notes("old")
    with pytest.raises(NotFound):
        await store.get_rating("old")
    assert await store.get_attachments(["a-old", "a-old2"]) == []
    # the files' bytes are queued for deletion, due at once
    assert sorted(await store.due_blob_deletions(now=0.0)) == ["old/a-old", "old/a-old2", "old/t"]
    for cid in ("recent", "live", "wrapup"):
        assert [m.body for m in await store.messages(cid)] == [f"hello {cid}"]
        assert [a.id for a in await store.get_attachments([f"a-{cid}"])] == [f"a-{cid}"]
    # the contact stays: its card is the customer's record
    assert (await store.get_contact("k1")).id == "k1"
    assert await store.purge_closed_conversations(CUT, 500) == 0


async def test_the_oldest_go_first_a_batch_at_a_time(store: Store) -> None:
    for i in range(5):
        await make(store, f"c{i}", created=100.0 - i, closed_at=200.0)
    assert [await store.purge_closed_conversations(CUT, 2) for _ in range(4)] == [2, 2, 1, 0]
    with pytest.raises(NotFound):
        await store.get_conversation("c4")


async def test_a_conversation_closed_after_the_cut_stays_however_old(store: Store) -> None:
    await make(store, "long", created=10.0, closed_at=CUT)
    assert await store.purge_closed_conversations(CUT, 500) == 0
    assert (await store.get_conversation("long")).state == "closed"


async def test_two_stores_purging_at_once_delete_each_conversation_once(
    make_store: StoreFactory,
) -> None:
    first, second = make_store(), make_store()
    await first.open()
    await second.open()
    try:
        count = 40
        for i in range(count):
            await make(first, f"c{i:02}", closed_at=200.0)
            await say(first, "hi", cid=f"c{i:02}")

        async def purge(store: Store) -> int:
            total = 0
            while deleted := await store.purge_closed_conversations(CUT, 3):
                total += deleted
                await asyncio.sleep(0)
            return total

        a, b = await asyncio.gather(purge(first), purge(second))
        # every one deleted, and counted by the one store that deleted it
        assert a + b == count
        assert await first.list_conversations() == []
    finally:
        await first.close()
        await second.close()


# -- PostgreSQL: the purge beside a transaction that holds a conversation ----------------


@pytest.mark.parametrize("make_store", ["postgres"], indirect=True)
async def test_a_purge_skips_a_conversation_another_transaction_holds(store: Store) -> None:
    assert isinstance(store, PostgresStore)
    for i in range(5):
        await make(store, f"c{i}", closed_at=200.0)
    raw = await asyncpg.connect(store.dsn)
    try:
        async with raw.transaction():
            await raw.execute("SELECT 1 FROM conversations WHERE id = 'c0' FOR UPDATE")
            # neither waits for c0 nor deletes it: another node is purging it
            async with asyncio.timeout(30):
                assert await store.purge_closed_conversations(CUT, 500) == 4
            assert [c.id for c in await store.list_conversations()] == ["c0"]
    finally:
        await raw.close()


@pytest.mark.parametrize("make_store", ["postgres"], indirect=True)
async def test_a_contact_forgotten_while_a_purge_holds_its_conversation_waits_for_it(
    store: Store,
) -> None:
    assert isinstance(store, PostgresStore)
    await make(store, "old", closed_at=200.0)
    await store.create_attachment(upload("a-old", cid="old", who="v-k1", thumb_key=""))
    raw = await asyncpg.connect(store.dsn)
    probe = await asyncpg.connect(store.dsn)
    try:
        async with raw.transaction():
            # the purge's first steps, by hand: its claim of the conversation ...
            await raw.execute("SELECT 1 FROM conversations WHERE id = 'old' FOR UPDATE")
            forgetting = asyncio.ensure_future(store.delete_contact("k1"))
            await _waiting_on_locks(probe, 1)
            # ... then its files' keys: the contact's deletion has queued none yet (it
            # waits for the conversation first), so this does not wait for it in turn
            async with asyncio.timeout(30):
                await raw.execute(queue_blobs_of("c.id = 'old'"))
                await raw.execute("DELETE FROM conversations WHERE id = 'old'")
        async with asyncio.timeout(60):
            assert await forgetting == 0  # the purge took the conversation
        with pytest.raises(NotFound):
            await store.get_contact("k1")
        keys = await probe.fetch("SELECT blob_key FROM blob_deletions")
        assert [k["blob_key"] for k in keys] == ["old/a-old"]
    finally:
        await raw.close()
        await probe.close()
