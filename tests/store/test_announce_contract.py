"""The Store contract for announcing a ``new`` conversation's messages exactly once: an
append to a conversation still ``new`` announces nothing, the change that takes it out
of ``new`` announces every message written so far (after its own events), and an append
that commits after that change announces its message itself -- decided under the
conversation's row lock, so two stores (two nodes) interleaving an append and the
routing announce each message once, in whichever order they commit. Run against both
implementations; on PostgreSQL each store has its own pool, and the interleavings are
forced by holding a lock the running operation needs from a third connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from gateway.model.integrations import Announcement
from gateway.model.records import Conversation, Message
from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from tests.store.conftest import StoreFactory
from tests.store.test_integration_contract import conversation


def contact_messages(conv: Conversation, message: Message) -> list[Announcement]:
    """Each of the contact's messages to ``wh``, with an id of its own per call (so that
    announcing one twice shows as two rows, not as the outbox's key refusing it)."""
    if message.sender != "contact":
        return []
    return [Announcement(uuid.uuid4().hex, "message.created", ("wh",), message.created_at)]


async def route(store: Store, cid: str = "cv1") -> Conversation:
    started = Announcement(f"started-{cid}", "conversation.started", ("wh",), 50.0, {})
    return await store.update_conversation(
        cid, state="waiting", announce=[started], announce_written=contact_messages
    )


async def write(store: Store, client_id: str, cid: str = "cv1") -> Message:
    appended = await store.append(
        cid, sender="contact", sender_id="int-1", client_msg_id=client_id, body=client_id,
        now=60.0, announce=contact_messages,
    )  # fmt: skip
    return appended.message


async def announced(store: Store) -> list[tuple[str, int]]:
    """The outbox for ``wh``, in the order it is delivered: (type, message seq)."""
    events = sorted(await store.list_outbox("wh", limit=1000), key=lambda e: e.n)
    return [(e.type, e.payload.get("message", {}).get("seq", 0)) for e in events]


@pytest.fixture
async def two(make_store: StoreFactory) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two nodes (on PostgreSQL, two pools)."""
    a, b = make_store(), make_store()
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_new_conversations_messages_are_announced_by_its_routing(store: Store) -> None:
    await conversation(store, "cv1")
    await write(store, "m1")
    await store.append(
        "cv1", sender="system", sender_id="", client_msg_id="", body="hi", now=61.0,
        kind="event", announce=contact_messages,
    )  # fmt: skip
    await write(store, "m2")
    assert await announced(store) == []  # new: announced by no append
    conv = await route(store)
    assert conv.state == "waiting"
    # the start first, then what the contact wrote (the system's event is not theirs)
    assert await announced(store) == [
        ("conversation.started", 0),
        ("message.created", 1),
        ("message.created", 3),
    ]
    [e] = [e for e in await store.list_outbox("wh") if e.payload.get("message", {}).get("seq") == 3]
    assert e.payload["conversation"]["state"] == "waiting" and e.payload["message"]["body"] == "m2"
    await write(store, "m3")  # routed: announced by its append
    # a change that does not take it out of new announces nothing written before again
    await store.update_conversation("cv1", state="assigned", announce_written=contact_messages)
    assert [seq for _, seq in await announced(store)] == [0, 1, 3, 4]


@pytest.mark.parametrize("first", ["append", "routing"])
async def test_two_nodes_in_either_order_announce_each_message_once(
    two: tuple[Store, Store], first: str
) -> None:
    a, b = two
    await conversation(a, "cv1")
    await write(a, "m1")
    if first == "append":
        await write(b, "m2")
        await route(a)
    else:
        await route(a)
        await write(b, "m2")
    assert await announced(a) == [
        ("conversation.started", 0),
        ("message.created", 1),
        ("message.created", 2),
    ]


async def test_appends_racing_the_routing_on_two_nodes_are_each_announced_once(
    two: tuple[Store, Store],
) -> None:
    a, b = two
    for r in range(10):
        cid = f"cv{r}"
        await conversation(a, cid)
        await write(a, "first", cid)
        await asyncio.gather(
            route(a, cid), *(write(s, f"m{i}", cid) for i, s in enumerate((a, b, b, a)))
        )
    by_conversation: dict[str, list[str]] = {}
    for e in sorted(await a.list_outbox("wh", limit=1000), key=lambda e: e.n):
        by_conversation.setdefault(e.conversation_id, []).append(
            e.type if e.type != "message.created" else str(e.payload["message"]["seq"])
        )
    for r in range(10):
        got = by_conversation[f"cv{r}"]
        assert got[0] == "conversation.started"  # before any of its messages
        assert sorted(got[1:]) == ["1", "2", "3", "4", "5"]  # each message once


# -- PostgreSQL: the two transactions really overlap ----------------------------------------


async def _waiting_on_locks(raw: asyncpg.Connection, count: int) -> None:
    """Until ``count`` backends of this database wait for a lock (the interleaving the
    test forces is in place)."""
    for _ in range(3000):
        waiting = await raw.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} transactions never waited for a lock")


async def _overlapping(
    store: Store,
    held: str,
    first: Callable[[], Awaitable[object]],
    second: Callable[[], Awaitable[object]],
) -> None:
    """``first`` runs until it waits on a row ``held`` (SQL) inserted by a third
    connection's open transaction, holding the conversation's row lock meanwhile;
    ``second`` then waits for that lock; the third connection rolls back and both end."""
    assert isinstance(store, PostgresStore)
    raw = await asyncpg.connect(store.dsn)
    try:
        blocker = raw.transaction()
        await blocker.start()
        await raw.execute(held)
        probe = await asyncpg.connect(store.dsn)
        try:
            one = asyncio.ensure_future(first())
            await _waiting_on_locks(probe, 1)
            two = asyncio.ensure_future(second())
            await _waiting_on_locks(probe, 2)
            assert not one.done() and not two.done()
        finally:
            await probe.close()
        await blocker.rollback()
        await asyncio.wait_for(asyncio.gather(one, two), 60)
    finally:
        await raw.close()


@pytest.mark.parametrize("make_store", ["postgres"], indirect=True)
async def test_an_append_that_waits_for_the_routing_announces_its_message(
    two: tuple[Store, Store],
) -> None:
    a, b = two
    await conversation(a, "cv1")
    await write(a, "m1")
    # The routing has locked the conversation and waits (for an outbox row with its
    # start's key) before it reads the messages; the append on the other node waits
    # for the conversation's lock, then commits against the routed conversation.
    await _overlapping(
        a,
        "INSERT INTO outbox (event_id, target, type, conversation_id, payload, created_at,"
        " state, attempts) VALUES ('started-cv1', 'wh', 'x', 'other', '{}', 1, 'sent', 0)",
        lambda: route(a),
        lambda: write(b, "m2"),
    )
    assert await announced(a) == [
        ("conversation.started", 0),
        ("message.created", 1),
        ("message.created", 2),
    ]


@pytest.mark.parametrize("make_store", ["postgres"], indirect=True)
async def test_a_routing_that_waits_for_an_append_announces_its_message(
    two: tuple[Store, Store],
) -> None:
    a, b = two
    await conversation(a, "cv1")
    await write(a, "m1")
    # The append has bumped (locked) the conversation and waits (for a message with its
    # client id) before it inserts; the routing on the other node waits for the lock,
    # then reads the appended message and announces it.
    await _overlapping(
        a,
        "INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,"
        " created_at, kind) VALUES ('cv1', 99, 'contact', 'int-1', 'm2', '', 1, 'text')",
        lambda: write(b, "m2"),
        lambda: route(a),
    )
    assert await announced(a) == [
        ("conversation.started", 0),
        ("message.created", 1),
        ("message.created", 2),
    ]
