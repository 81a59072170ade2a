"""PostgreSQL's batched append finds its conversations by primary key, whatever the
number of conversations: the contact-center benchmark's p99 grew with it when the
prepared statement's generic plan scanned the whole conversations table per batch."""

from __future__ import annotations

import os

import asyncpg

from devkit import services
from gateway.ports.store._pg_append import APPEND_MANY
from gateway.ports.store._rows import to_json
from gateway.ports.store.postgres import PostgresStore
from tests.store.test_contract import setup_conversation

CONVERSATIONS = 3000


async def test_the_batched_append_reads_conversations_by_key(
    postgres: services.Postgres,
) -> None:
    dsn = services.createdb(postgres, f"plan_{os.getpid()}")
    store = PostgresStore(dsn)
    await store.open()
    try:
        await setup_conversation(store, "c0", contact_id="k0")
    finally:
        await store.close()
    conn = await asyncpg.connect(dsn)
    try:
        # As many conversations as the benchmark holds: copies of c0 under new ids.
        await conn.execute(
            "INSERT INTO conversations SELECT (jsonb_populate_record(c, jsonb_build_object("
            "'id', 'c' || g, 'address', 'a' || g))).* FROM conversations c, "
            "generate_series(1, $1::integer) g WHERE c.id = 'c0'",
            CONVERSATIONS,
        )
        await conn.execute("ANALYZE conversations")
        plans = []
        for size in (3, 20):  # batches as a steady load gives them
            ids = [f"c{n}" for n in range(1, size + 1)]
            # the conversations: id, messages, unread increments, no guard; their
            # messages: conversation, place, number, APPEND's arguments
            convs = [(i, 1, 1, 0, None, None, None, None) for i in ids]
            msgs = [(i, 1, 1, "contact", "v", f"m-{i}", "hello", 1.0, "text", "") for i in ids]
            params = (ids, to_json(convs), to_json(msgs))
            rows = await conn.fetch(f"EXPLAIN {APPEND_MANY}", *params)
            plans.append("\n".join(r[0] for r in rows))
    finally:
        await conn.close()
    for plan in plans:
        assert "Seq Scan on conversations" not in plan, plan
        assert "conversations_pkey" in plan, plan
