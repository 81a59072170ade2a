"""What PostgreSQL is sent per message: no statement beyond the message's own (the
pool's reset query is not sent), the conversations' pages keep room for HOT updates,
and the hot statements are prepared once per connection (docs/store.md, "PostgreSQL's
round trips")."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from devkit import services
from gateway.errors import NotFound
from gateway.ports.store import _pg_append
from gateway.ports.store.base import Stale
from gateway.ports.store.postgres import PostgresStore
from tests.store.test_contract import setup_conversation, setup_conversations

_names = itertools.count(1)


@pytest.fixture
async def pg_store(postgres: services.Postgres) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(
        services.createdb(postgres, f"trips_{os.getpid()}_{next(_names)}"), max_size=1
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _one(pool: asyncpg.Pool[Any] | None) -> asyncpg.Connection[Any]:
    assert pool is not None
    conn = pool._holders[0]._con  # max_size=1: the one connection
    assert conn is not None
    return conn


def _logged(store: PostgresStore) -> tuple[list[str], list[asyncpg.Connection[Any]]]:
    """Every query the store's connections (its pool's one, the batches' one) are sent
    from now on."""
    sent: list[str] = []
    conns = [_one(store._pool), _one(store._batches)]
    for conn in conns:
        conn.add_query_logger(lambda record: sent.append(" ".join(record.query.split())))
    return sent, conns


async def test_a_message_sends_one_statement_and_nothing_after(pg_store: PostgresStore) -> None:
    await setup_conversation(pg_store, "c1")
    sent, _ = _logged(pg_store)
    for n in range(3):
        got = await pg_store.append(
            "c1", sender="contact", sender_id="v", client_msg_id=f"m{n}", body="hi", now=5.0
        )
        assert got.created and got.message.seq == n + 1
    # The append's statement only: asyncpg's reset query (RESET ALL, UNLISTEN *, ...) is
    # not sent when the connection goes back to the pool.
    assert len(sent) == 3
    assert all(q.startswith("WITH bumped AS") for q in sent), sent


async def test_a_transaction_left_open_is_still_rolled_back(pg_store: PostgresStore) -> None:
    await setup_conversation(pg_store, "c1")
    async with pg_store._connection() as c:
        await c.execute("BEGIN")
        await c.execute("UPDATE conversations SET subject = 'half-written' WHERE id = 'c1'")
    # back in the pool: asyncpg rolled it back, the next user starts clean
    assert (await pg_store.get_conversation("c1")).subject == ""
    async with pg_store._connection() as c:
        await c.execute("UPDATE conversations SET subject = 'whole' WHERE id = 'c1'")
    assert (await pg_store.get_conversation("c1")).subject == "whole"


async def _one_each(store: PostgresStore, convs: list[str], n: int) -> None:
    """Message ``n`` to each conversation, all at once: they go in one batch."""
    await asyncio.gather(
        *(
            store.append(
                cid, sender="contact", sender_id=cid, client_msg_id=f"{n}", body="x", now=1.0
            )
            for cid in convs
        )
    )


async def test_the_hot_statements_are_prepared_once(pg_store: PostgresStore) -> None:
    convs = await setup_conversations(pg_store, 4)
    _, conns = _logged(pg_store)

    def prepared() -> list[dict[str, Any]]:
        return [{q: c._stmt_cache.get(q) for q in list(c._stmt_cache._entries)} for c in conns]

    await _one_each(pg_store, convs, 0)
    first = prepared()
    assert len(first[1]) == 1, first  # the first round went as one batch
    for n in range(1, 4):
        await _one_each(pg_store, convs, n)
    # the same prepared statements, none added: no SQL built per call
    assert prepared() == first


async def test_the_batch_is_planned_once(pg_store: PostgresStore) -> None:
    """Left to choose, PostgreSQL plans the batch's statement again at every call (a
    custom plan: it guesses the generic one dearer); its connection takes the generic
    plan, which finds the conversations by key (test_a_batch_bumps_...)."""
    convs = await setup_conversations(pg_store, 3)
    for n in range(8):  # past the five custom plans PostgreSQL tries first
        await _one_each(pg_store, convs, n)
    async with pg_store._connection(pg_store._batches) as c:
        rows = await c.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
    plans = [(g, c) for q, g, c in rows if q.lstrip().startswith("WITH batch AS")]
    assert plans == [(8, 0)]  # under the default: (3, 5) here, (0, 8) in the benchmark


async def test_conversations_leave_room_for_hot_updates(pg_store: PostgresStore) -> None:
    async with pg_store._connection() as c:
        row = await c.fetchrow("SELECT reloptions FROM pg_class WHERE relname = 'conversations'")
    assert row is not None and "fillfactor=70" in (row[0] or [])


async def test_a_batch_bumps_its_conversations_by_key(pg_store: PostgresStore) -> None:
    """The batch's generic plan, made on the batches' own connection, finds its
    conversations through the key, not by reading the table whole: whether it was made
    while the table held one conversation (a node's first batch, on a new deployment) or
    a thousand. A plan made on the small table stays the connection's until the table is
    analyzed again: in the contact-center benchmark one node's batches read the 4,000
    conversations whole, every batch, until autovacuum analyzed the table."""
    await setup_conversation(pg_store, "c0")
    names = ", ".join(_pg_append.TYPES)
    args = ", ".join("NULL" for _ in _pg_append.TYPES)
    plans = []
    for size in (1, 1001):
        async with pg_store._connection() as c:
            # copies of c0 (none the first time): then a table of some pages, not one
            await c.execute(
                "INSERT INTO conversations SELECT (jsonb_populate_record(NULL::conversations,"
                " to_jsonb(c) || jsonb_build_object('id', 'c' || n, 'address', 'a' || n))).*"
                " FROM conversations c, generate_series(1, $1::integer) n WHERE c.id = 'c0'",
                size - 1,
            )
            await c.execute("ANALYZE conversations")
        async with pg_store._connection(pg_store._batches) as c:
            await c.execute(f"PREPARE batch ({names}) AS {_pg_append.APPEND_MANY}")
            try:
                rows = await c.fetch(f"EXPLAIN EXECUTE batch ({args})")
            finally:
                await c.execute("DEALLOCATE batch")
        plans.append("\n".join(r[0] for r in rows))
    for plan in plans:
        assert "Seq Scan on conversations" not in plan, plan
        assert "conversations_pkey" in plan, plan


async def test_messages_go_with_their_conversation_without_a_key_check(
    pg_store: PostgresStore,
) -> None:
    """The append checks the conversation itself (migration 0012): no foreign key
    trigger runs per message; a conversation deleted, directly or with its contact,
    still takes its messages."""
    for cid, contact in (("c1", "k1"), ("c2", "k2"), ("c3", "k2")):
        await setup_conversation(pg_store, cid, contact_id=contact)
        for n in range(2):
            await pg_store.append(
                cid, sender="contact", sender_id="v", client_msg_id=f"m{n}", body="x", now=1.0
            )
    async with pg_store._connection() as c:
        keys = await c.fetch(
            "SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'messages'::regclass AND contype = 'f'"
        )
        assert keys == []
        await c.execute("DELETE FROM conversations WHERE id = 'c1'")
        await c.execute("DELETE FROM contacts WHERE id = 'k2'")  # cascades to c2, c3
        assert await c.fetch("SELECT conversation_id FROM messages") == []


async def test_a_message_insert_compiles_no_check_constraint(pg_store: PostgresStore) -> None:
    """PostgreSQL compiles a table's CHECKs again for every statement writing it (a
    tenth of an appended message's CPU in the backend): messages has none since
    migration 0014, the store checks sender and kind itself."""
    async with pg_store._connection() as c:
        checks = await c.fetch(
            "SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'messages'::regclass AND contype = 'c'"
        )
    assert checks == []


async def test_an_append_turned_away_costs_one_read_more(pg_store: PostgresStore) -> None:
    """Why APPEND stored nothing (a changed conversation, a retry its guard turned away,
    an unknown conversation) is one statement: the conversation and the retry's message
    together, not one read each."""
    await setup_conversation(pg_store, "c1")
    before = await pg_store.get_conversation("c1")
    first = await pg_store.append(
        "c1", sender="contact", sender_id="v", client_msg_id="m1", body="hi", now=2.0,
        expect=before,
    )  # fmt: skip
    async with pg_store._connection() as c:
        await c.execute("UPDATE conversations SET state = 'closed' WHERE id = 'c1'")
    sent, _ = _logged(pg_store)

    with pytest.raises(Stale):
        await pg_store.append(
            "c1", sender="contact", sender_id="v", client_msg_id="m2", body="x", now=3.0,
            expect=before,
        )  # fmt: skip
    assert [q.split()[:3] for q in sent] == [
        ["WITH", "bumped", "AS"],
        ["SELECT", "c.id,", "c.touchpoint_id,"],
    ]

    sent.clear()
    again = await pg_store.append(
        "c1", sender="contact", sender_id="v", client_msg_id="m1", body="hi", now=4.0,
        expect=before,
    )  # fmt: skip
    assert (again.created, again.message) == (False, first.message)
    assert again.conversation.state == "closed"
    assert len(sent) == 2

    sent.clear()
    with pytest.raises(NotFound):
        await pg_store.append(
            "nope", sender="contact", sender_id="v", client_msg_id="m1", body="x", now=5.0
        )
    assert len(sent) == 2


async def test_the_turned_away_append_finds_the_retry_by_its_index(
    pg_store: PostgresStore,
) -> None:
    """NOT_APPENDED's join to messages proves the unique index's predicate
    (client_msg_id <> ''): the retry is found by the index, not by reading messages."""
    async with pg_store._connection() as c:
        await c.execute("SET enable_seqscan = off")
        try:
            rows = await c.fetch(f"EXPLAIN {_pg_append.NOT_APPENDED}", "c1", "contact", "v", "m1")
        finally:
            await c.execute("RESET enable_seqscan")
    plan = "\n".join(r[0] for r in rows)
    assert "messages_client_msg" in plan, plan
