"""Two starts for one new address at once (two nodes; docs/protocol.md, "start"): the
store keeps the contact whose create linked the address first and rolls the other back
(AddressTaken). The name typed in the start that lost names the contact if it has none;
a contact that has a name keeps it."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from gateway.errors import NotFound
from gateway.model.records import Contact
from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from gateway.services.contacts import ContactService
from tests.poll import until
from tests.store.test_contact_address_race import _WAITING, _contact_ids


class _Node:
    """A node's view of the store: whether its create of a contact made it (True) or
    was rolled back for another's (False)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.made: bool | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def create_contact(self, contact_id: str, **kwargs: Any) -> Contact:
        made = await self._store.create_contact(contact_id, **kwargs)
        self.made = made.id == contact_id
        return made


async def _race(store: Store, names: tuple[str, str]) -> str:
    """Two services (two nodes) make the contact of one new chat address at once, each
    with its visitor's typed name ("" for none): the name of the start that won."""
    views = (_Node(store), _Node(store))
    nodes = tuple(ContactService(cast(Store, v), time.time) for v in views)

    async def start(node: ContactService, name: str) -> Contact:
        fields = {"name": name} if name else {}
        return await node.for_conversation("chat", "vi_named", fields)

    if isinstance(store, PostgresStore):
        # both have looked the address up and found nothing, and inserted their
        # contact; their links wait on the test's lock, then go together
        async with store._transaction() as holder:  # type: ignore[attr-defined]
            await holder.execute("LOCK TABLE contact_addresses IN SHARE MODE")
            tasks = [asyncio.ensure_future(start(n, m)) for n, m in zip(nodes, names, strict=True)]
            async with store._connection() as watcher:  # type: ignore[attr-defined]

                async def waiting() -> int:
                    # none may finish before both wait: they would not race
                    assert not any(t.done() for t in tasks), [t.result() for t in tasks]
                    return int((await watcher.fetchrow(_WAITING))[0])  # type: ignore[index]

                await until(waiting, lambda n: n >= 2, what="the creates waiting", every=0.02)
        a, b = await asyncio.gather(*tasks)
    else:
        # one writer at a time: both look the address up before either writes, and
        # the second create finds it taken
        a, b = await asyncio.gather(*(start(n, m) for n, m in zip(nodes, names, strict=True)))
    assert a.id == b.id
    [only] = await _contact_ids(store)  # the loser's contact was rolled back
    assert only == a.id
    assert sorted([views[0].made, views[1].made]) == [False, True]
    return names[0] if views[0].made else names[1]


@pytest.mark.parametrize("names", [("", "Lin"), ("Lin", "")])
async def test_the_losers_name_names_a_contact_without_one(
    store: Store, names: tuple[str, str]
) -> None:
    await _race(store, names)
    [contact] = [await store.get_contact(i) for i in await _contact_ids(store)]
    assert contact.name == "Lin"  # whichever start won


@pytest.mark.parametrize("names", [("Ana", "Lin"), ("Lin", "Ana")])
async def test_a_contact_with_a_name_keeps_it(store: Store, names: tuple[str, str]) -> None:
    winner = await _race(store, names)
    [contact] = [await store.get_contact(i) for i in await _contact_ids(store)]
    assert contact.name == winner  # not the loser's


async def test_a_name_given_only_if_there_is_none_keeps_one_given_meanwhile(
    store: Store,
) -> None:
    """The losing start's name is written only while the contact has none: the database
    decides as it writes, so a name an agent gave after the start read the contact
    (and before its write) is kept."""
    made = await store.create_contact("ct_named", now=1.0)
    assert made.name == ""
    first = await store.update_contact("ct_named", name="Lin", unnamed_only=True)
    assert first.name == "Lin"
    # the start read "" before this rename; its write comes after it
    await store.update_contact("ct_named", name="Lin Wu")
    kept = await store.update_contact("ct_named", name="Ana", unnamed_only=True)
    assert kept.name == "Lin Wu" and (await store.get_contact("ct_named")).name == "Lin Wu"
    with pytest.raises(NotFound):
        await store.update_contact("ct_gone", name="Ana", unnamed_only=True)
