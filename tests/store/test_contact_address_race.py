"""A new contact with an address takes the address only while it is free (docs/store.md):
two nodes creating a contact for the same new address at once make one contact, the
one that linked it first, and the other gets that contact back; nothing of its own is
left behind (no orphan contact, no history split between two contacts)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import NotFound
from gateway.model.records import Contact
from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from tests.poll import until

# the creates' inserts of an address, waiting for the test's lock
_WAITING = (
    "SELECT count(*) FROM pg_locks WHERE relation = 'contact_addresses'::regclass AND NOT granted"
)


async def _contact_ids(store: Store) -> list[str]:
    async with store._connection() as c:  # type: ignore[attr-defined]
        return [r[0] for r in await c.fetch("SELECT id FROM contacts ORDER BY id")]


async def test_a_new_contact_for_a_taken_address_is_the_addresss_contact(
    store: Store,
) -> None:
    first = await store.create_contact("ka", name="A", now=1.0, address=("sms", "+15550001"))
    again = await store.create_contact("kb", name="B", now=2.0, address=("sms", "+15550001"))
    assert again == first
    with pytest.raises(NotFound):  # rolled back: not made at all
        await store.get_contact("kb")
    assert await store.find_contact_by_address("sms", "+15550001") == first
    # the contact numbers go on (SQLite) or skip one (a PostgreSQL sequence)
    assert (await store.create_contact("kc", now=3.0)).number in (2, 3)


async def test_two_creates_for_one_new_address_at_once_make_one_contact(store: Store) -> None:
    async def create(contact_id: str) -> Contact:
        return await store.create_contact(
            contact_id, name="Lin", now=1.0, address=("chat", "vi_race")
        )

    if isinstance(store, PostgresStore):
        # both transactions in flight at once: their contacts inserted, their address
        # inserts held by a lock until both wait for it, then let go together
        async with store._transaction() as holder:
            await holder.execute("LOCK TABLE contact_addresses IN SHARE MODE")
            tasks = [asyncio.ensure_future(create(i)) for i in ("k1", "k2")]
            async with store._connection() as watcher:

                async def waiting() -> int:
                    # none may finish before both wait: they would not race
                    assert not any(t.done() for t in tasks), [t.result() for t in tasks]
                    return int((await watcher.fetchrow(_WAITING))[0])  # type: ignore[index]

                await until(waiting, lambda n: n >= 2, what="the creates waiting", every=0.02)
        made = list(await asyncio.gather(*tasks))
    else:  # one writer at a time: the second create finds the address taken
        made = list(await asyncio.gather(create("k1"), create("k2")))
    assert made[0] == made[1], made
    [only] = await _contact_ids(store)
    assert only == made[0].id
    linked = await store.find_contact_by_address("chat", "vi_race")
    assert linked is not None and linked.id == only
