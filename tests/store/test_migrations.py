"""Data written the way migration 0001 left it survives the later migrations, on both
databases, and reads back through the store as the channel-neutral model."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import asyncpg

from devkit import services
from gateway.ports.store.base import Store
from gateway.ports.store.migrate import load, split_sqlite
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.sqlite import SQLiteStore

# Two visitors of a chat touchpoint as 0001 kept them: a contact "ct_<visitor id>" for
# the first, the second matched (by a signed identity) to the first's contact.
OLD_ROWS = [
    "INSERT INTO contacts (id, number, name, email, email_key, phone, created_at)"
    " VALUES ('ct_vi_a', 1, 'Lin', 'lin@x.test', 'lin@x.test', '', 10)",
    "INSERT INTO conversations (id, touchpoint_id, channel, contact_id, visitor_id, state,"
    " queue_ids, priority, owner_agent_id, weight, acceptance, dedicated, fields, created_at,"
    " arrived_at, notes, disposition, last_seq, visitor_unread, agent_unread,"
    " visitor_read_seq, agent_read_seq) VALUES ('cv_1', 'tp', 'chat', 'ct_vi_a', 'vi_a',"
    " 'assigned', '[\"q\"]', 0, 'ag', 25, 'manual', {false}, '{{}}', 20, 20, '', '', 2, 1, 1,"
    " 1, 0)",
    "INSERT INTO conversations (id, touchpoint_id, channel, contact_id, visitor_id, state,"
    " queue_ids, priority, owner_agent_id, weight, acceptance, dedicated, fields, created_at,"
    " arrived_at, notes, disposition, last_seq, visitor_unread, agent_unread,"
    " visitor_read_seq, agent_read_seq) VALUES ('cv_2', 'tp', 'chat', 'ct_vi_a', 'vi_b',"
    " 'closed', '[\"q\"]', 0, NULL, 0, 'manual', {false}, '{{}}', 30, 30, '', '', 0, 0, 0,"
    " 0, 0)",
    "INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,"
    " created_at, kind) VALUES ('cv_1', 1, 'visitor', 'vi_a', 'm1', 'hello', 21, 'text')",
    "INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body,"
    " created_at, kind) VALUES ('cv_1', 2, 'agent', 'ag', 'm2', 'hi there', 22, 'text')",
]


async def check(store: Store) -> None:
    conv = await store.get_conversation("cv_1")
    assert (conv.address, conv.contact_unread, conv.agent_unread) == ("vi_a", 1, 1)
    messages = await store.messages("cv_1")
    assert [(m.sender, m.body, m.delivery) for m in messages] == [
        ("contact", "hello", ""),
        ("agent", "hi there", ""),
    ]
    for address in ("vi_a", "vi_b"):
        found = await store.find_contact_by_address("chat", address)
        assert found is not None and found.id == "ct_vi_a", address
    assert [c.id for c in await store.list_conversations(address="vi_b", touchpoint_id="tp")] == [
        "cv_2"
    ]
    # the migrated schema takes new data as the code writes it
    await store.append_message(
        "cv_1", sender="contact", sender_id="vi_a", client_msg_id="m3", body="more", now=40.0
    )
    assert (await store.get_conversation("cv_1")).agent_unread == 2
    # a retry of a message stored before the idempotency index was rebuilt (0015) is
    # still turned away, and the same id from another sender is still a message
    retry, created = await store.append_message(
        "cv_1", sender="contact", sender_id="vi_a", client_msg_id="m1", body="again", now=41.0
    )
    assert (created, retry.seq, retry.body) == (False, 1, "hello")
    _, created = await store.append_message(
        "cv_1", sender="agent", sender_id="ag", client_msg_id="m1", body="mine", now=42.0
    )
    assert created
    await store.mark_read("cv_1", "contact", 2)


async def test_sqlite_data_of_0001_survives(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    first = load("sqlite")[0]
    for statement in split_sqlite(first.sql):
        db.execute(statement)
    db.execute("INSERT INTO schema_migrations VALUES (1, ?, ?)", (first.name, time.time()))
    for row in OLD_ROWS:
        db.execute(row.format(false=0))
    db.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        await check(store)
    finally:
        await store.close()


async def test_postgres_data_of_0001_survives(postgres: services.Postgres) -> None:
    dsn = services.createdb(postgres, "migrate_0001")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
        )
        first = load("postgres")[0]
        await conn.execute(first.sql)
        await conn.execute(
            "INSERT INTO schema_migrations VALUES (1, $1, $2)", first.name, time.time()
        )
        for row in OLD_ROWS:
            await conn.execute(row.format(false="false"))
    finally:
        await conn.close()
    store = PostgresStore(dsn)
    await store.open()
    try:
        await check(store)
    finally:
        await store.close()


# Migration 0007 (integrations) landed after 0008-0010 were released: a database that
# main's gateway brought to 0010 without it gets it on open (migrations are applied by
# the set of recorded versions, not by the newest one).
async def check_0007_applied(store: Store, versions: list[int]) -> None:
    assert versions == [m.version for m in load("sqlite")]  # 0007 among them
    conv = await store.get_conversation("cv_1")
    assert (conv.bot_id, conv.subject, conv.direction) == ("", "", "inbound")
    assert await store.get_transcript("cv_1") == []


async def test_sqlite_database_at_0010_without_0007_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for m in load("sqlite"):
        if m.version == 7 or m.version > 10:  # as main's gateway left it
            continue
        for statement in split_sqlite(m.sql):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (m.version, m.name, 1.0))
        if m.version == 1:
            for row in OLD_ROWS:
                db.execute(row.format(false=0))
    db.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        db = sqlite3.connect(path)
        versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        db.close()
        await check_0007_applied(store, versions)
    finally:
        await store.close()


async def test_postgres_database_at_0010_without_0007_gets_it(
    postgres: services.Postgres,
) -> None:
    dsn = services.createdb(postgres, "migrate_no_0007")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
        )
        for m in load("postgres"):
            if m.version == 7 or m.version > 10:
                continue
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO schema_migrations VALUES ($1, $2, $3)", m.version, m.name, 1.0
            )
            if m.version == 1:
                for row in OLD_ROWS:
                    await conn.execute(row.format(false="false"))
    finally:
        await conn.close()
    store = PostgresStore(dsn)
    await store.open()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        finally:
            await conn.close()
        await check_0007_applied(store, [r[0] for r in rows])
    finally:
        await store.close()


# Migration 0007 was edited after its first release (its outbox_due index got "AND due
# IS NOT NULL"): a database migrated with the first text gets today's index from 0016.
OLD_0007_DUE = "WHERE state = 'pending';\nCREATE INDEX outbox_order"
NEW_0007_DUE = "WHERE state = 'pending' AND due IS NOT NULL;\nCREATE INDEX outbox_order"


def first_0007(sql: str) -> str:
    assert NEW_0007_DUE in sql
    return sql.replace(NEW_0007_DUE, OLD_0007_DUE)


async def test_sqlite_outbox_due_index_of_the_first_0007_is_remade(tmp_path: Path) -> None:
    path = tmp_path / "first0007.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for m in load("sqlite"):
        if m.version > 15:
            break
        sql = first_0007(m.sql) if m.version == 7 else m.sql
        for statement in split_sqlite(sql):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (m.version, m.name, 1.0))
    (before,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'outbox_due'").fetchone()
    assert "due IS NOT NULL" not in before
    db.close()
    store = SQLiteStore(str(path))
    await store.open()
    await store.close()
    db = sqlite3.connect(path)
    (after,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'outbox_due'").fetchone()
    db.close()
    assert after.endswith("WHERE state = 'pending' AND due IS NOT NULL")


async def test_postgres_outbox_due_index_of_the_first_0007_is_remade(
    postgres: services.Postgres,
) -> None:
    dsn = services.createdb(postgres, "migrate_first_0007")
    conn = await asyncpg.connect(dsn)
    index = "SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_due'"
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
        )
        for m in load("postgres"):
            if m.version > 15:
                break
            await conn.execute(first_0007(m.sql) if m.version == 7 else m.sql)
            await conn.execute(
                "INSERT INTO schema_migrations VALUES ($1, $2, $3)", m.version, m.name, 1.0
            )
        assert "due IS NOT NULL" not in await conn.fetchval(index)
        store = PostgresStore(dsn)
        await store.open()
        await store.close()
        assert "due IS NOT NULL" in await conn.fetchval(index)
    finally:
        await conn.close()
