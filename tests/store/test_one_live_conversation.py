"""One live conversation per contact address and touchpoint, held by the store (the
one-live index, migration 0018), on both databases: a second live one is refused with
LiveElsewhere and nothing stored; a database that holds duplicates from before is
migrated without failing, its older duplicates marked and skipped."""

from __future__ import annotations

import pytest

from gateway.errors import Conflict
from gateway.ports.store.base import LiveElsewhere, Store
from tests.store.conftest import StoreFactory
from tests.store.test_contract import conversation


async def test_a_second_live_conversation_of_an_address_is_refused(store: Store) -> None:
    await store.create_contact("k1", now=1.0)
    await store.create_conversation(conversation("c1", address="v1"))
    with pytest.raises(LiveElsewhere) as refused:
        await store.create_conversation(conversation("c2", address="v1", state="waiting"))
    assert refused.value.code == "conversation_open"
    assert [c.id for c in await store.list_conversations(address="v1")] == ["c1"]
    # the same id is the id's Conflict, not the index's
    with pytest.raises(Conflict) as taken:
        await store.create_conversation(conversation("c1", address="v9"))
    assert not isinstance(taken.value, LiveElsewhere)
    # what is not live, another touchpoint, another address: as many as there are
    await store.create_conversation(conversation("old", address="v1", state="closed"))
    await store.create_conversation(conversation("c3", address="v1", touchpoint_id="tp2"))
    await store.create_conversation(conversation("c4", address="v2"))
    # wrap-up is not live (the contact starts a new one): the next one may be made
    await store.update_conversation("c1", state="wrapup")
    await store.create_conversation(conversation("c5", address="v1", created_at=200.0))
    with pytest.raises(LiveElsewhere):
        await store.create_conversation(conversation("c6", address="v1", created_at=300.0))


async def test_duplicates_made_before_the_index_are_migrated_and_marked(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    await store.open()
    try:
        # the database as it was before 0018, with what two racing nodes left in it
        async with store._connection() as c:  # type: ignore[attr-defined]
            await c.execute("DROP INDEX conversations_one_live")
            await c.execute("ALTER TABLE conversations DROP COLUMN live_duplicate")
            await c.execute("DELETE FROM schema_migrations WHERE version = 18")
        await store.create_contact("k1", now=1.0)
        for cid, at, state in (
            ("a", 100.0, "assigned"),
            ("b", 100.0, "waiting"),  # the same instant: the id decides
            ("c", 150.0, "new"),  # the newest: the one the contact writes in
            ("gone", 200.0, "closed"),
        ):
            await store.create_conversation(
                conversation(cid, address="v1", state=state, created_at=at)
            )
        await store.create_conversation(conversation("other", address="v2", created_at=90.0))
    finally:
        await store.close()
    store = make_store()
    await store.open()  # migrates: does not fail on the duplicates
    try:
        async with store._connection() as c:  # type: ignore[attr-defined]
            rows = await c.fetch("SELECT id FROM conversations WHERE live_duplicate ORDER BY id")
        assert [r[0] for r in rows] == ["a", "b"]
        # the index holds from now on
        with pytest.raises(LiveElsewhere):
            await store.create_conversation(conversation("d", address="v1", created_at=300.0))
        with pytest.raises(LiveElsewhere):
            await store.create_conversation(conversation("e", address="v2", created_at=300.0))
        # a marked duplicate's end changes nothing the index holds
        await store.update_conversation("a", state="wrapup")
        await store.update_conversation("a", state="closed")
        assert (await store.get_conversation("c")).state == "new"
        with pytest.raises(LiveElsewhere):  # c still holds v1
            await store.create_conversation(conversation("f", address="v1", created_at=400.0))
        # the one the index holds ends: the address takes a new one
        await store.update_conversation("c", state="closed")
        await store.update_conversation("b", state="closed")
        await store.create_conversation(conversation("g", address="v1", created_at=500.0))
    finally:
        await store.close()
