"""The idempotency index (migration 0015) is keyed by the client's message id first: a
retry is still found by it on both databases, and on SQLite a batch of messages to
different conversations with time-ordered ids (the widget's and the console's UUIDv7s)
writes fewer pages than with random ids, where keyed by conversation first both wrote a
leaf of the index per message (docs/store.md, "The idempotency index")."""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from pathlib import Path

import asyncpg

from bench.loadgen import time_ordered_id
from devkit import services
from gateway.ports.store._group_commit import _INSERT
from gateway.ports.store._rows import SELECT_BY_CLIENT_ID
from gateway.ports.store._sqlite_lane import sql
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.sqlite import SQLiteStore
from tests.store.test_contract import setup_conversations

CONVERSATIONS = 300
BATCH = 100
FRAME = 24 + 4096  # a WAL frame: its header and a page


async def test_sqlite_index_leads_with_the_client_id_and_finds_a_retry(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SQLiteStore(str(path))
    await store.open()
    await store.close()
    db = sqlite3.connect(path)
    try:
        columns = [r[2] for r in db.execute("PRAGMA index_info('messages_client_msg')")]
        plan = " ".join(
            str(r[3])
            for r in db.execute(
                f"EXPLAIN QUERY PLAN {sql(SELECT_BY_CLIENT_ID)}", ("c", "s", "i", "m")
            )
        )
    finally:
        db.close()
    assert columns == ["client_msg_id", "conversation_id", "sender", "sender_id"]
    assert "messages_client_msg" in plan, plan


async def test_postgres_index_leads_with_the_client_id(postgres: services.Postgres) -> None:
    dsn = services.createdb(postgres, f"idx_{os.getpid()}")
    store = PostgresStore(dsn)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(dsn)
    try:
        definition = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_client_msg'"
        )
    finally:
        await conn.close()
    assert "(client_msg_id, conversation_id, sender, sender_id)" in definition, definition
    assert "UNIQUE" in definition and "client_msg_id <> ''" in definition, definition


async def test_time_ordered_ids_write_fewer_pages_than_random_ones(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SQLiteStore(str(path))
    await store.open()
    try:
        convs = await setup_conversations(store, CONVERSATIONS)
    finally:
        await store.close()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the WAL keeps every frame written
        seq = dict.fromkeys(convs, 0)
        now_ms = 1_764_547_200_000  # 2025-12-01: every id and every choice repeatable
        rng = random.Random(18)

        def random_ids() -> list[str]:
            return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(BATCH)]

        def frames_of_a_batch(ids: list[str]) -> float:
            """WAL frames a message for one batch of messages to different conversations."""
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            before = os.path.getsize(f"{path}-wal")
            db.execute("BEGIN IMMEDIATE")
            for cid, mid in zip(rng.sample(convs, BATCH), ids, strict=True):
                seq[cid] += 1
                row = (cid, seq[cid], "contact", "v", mid, "hello", 1.0, "text", "", "[]")
                db.execute(sql(_INSERT), row)
            db.execute("COMMIT")
            return (os.path.getsize(f"{path}-wal") - before) / FRAME / BATCH

        # history first, so that the index has many leaves to choose from
        for n in range(20):
            frames_of_a_batch([time_ordered_id(now_ms - 60_000 + n, rng) for _ in range(BATCH)])
            frames_of_a_batch(random_ids())
        # five batches of each, alternated: one batch's count varies by the leaves it meets
        ordered = scattered = 0.0
        for b in range(5):
            ids = [time_ordered_id(now_ms + 100 * b + n // 10, rng) for n in range(BATCH)]
            ordered += frames_of_a_batch(ids) / 5
            scattered += frames_of_a_batch(random_ids()) / 5
    finally:
        db.close()
    # each message writes its conversation's leaf of the messages table either way; the
    # index's entries share a few leaves when ordered, and take one each when not
    assert ordered < scattered - 0.2, (ordered, scattered)
