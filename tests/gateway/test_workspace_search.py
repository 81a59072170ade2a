"""Finding and keeping contacts, against real stores and a real gateway: the search folds
case and accents the same way on SQLite and PostgreSQL (contacts written before the
folded columns existed included), one saved contact per email also when two saves
come at the same instant (a database that already holds duplicates still migrates),
and a deleted contact's conversations leave the agents' lists at once."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from devkit import services
from gateway.auth import Identity
from gateway.errors import Conflict, ContactExists
from gateway.model.records import Conversation
from gateway.ports.store.base import HistoryFilter, Store
from gateway.ports.store.migrate import load, split_sqlite
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.sqlite import SQLiteStore
from gateway.services.contacts import ContactService
from tests.gateway.client import AgentClient, accepted_chat
from tests.gateway.conftest import ADMIN, demo_agent, demo_visitor
from tests.gateway.test_workspace import admin_away, http

_db_names = itertools.count(1)

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Unopened stores on one fresh database: SQLite in a file, PostgreSQL in a
    database of its own."""
    if request.param == "sqlite":
        path = str(tmp_path / "gateway.db")
        return lambda: SQLiteStore(path)
    pg: services.Postgres = request.getfixturevalue("postgres")
    dsn = services.createdb(pg, f"wsearch_{os.getpid()}_{next(_db_names)}")
    return lambda: PostgresStore(dsn, max_size=10)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Store]:
    s = make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def _names(store: Store, q: str) -> list[str]:
    return [c.name for c in await store.search_contacts(q)]


async def test_search_folds_case_and_accents_on_both_databases(store: Store) -> None:
    """Regression: names were compared with the database's lower(), which folds ASCII
    only on SQLite (and PostgreSQL under the C locale): "émile" did not find "Émile",
    nor "Zoe" "Zoë"."""
    await store.create_contact("ct_1", name="Émile Öz", now=1.0, saved=True)
    await store.create_contact("ct_2", name="Zoë", email="ZOË@Exämple.com", now=2.0, saved=True)
    await store.create_contact("ct_3", name="Straße", now=3.0, saved=True)
    await store.create_contact("ct_4", name="Émile unsaved", now=4.0)
    for q, want in (
        ("émile", ["Émile Öz"]),
        ("EMILE OZ", ["Émile Öz"]),
        ("Émile", ["Émile Öz"]),  # as written, non-ASCII capital and all
        ("mile", ["Émile Öz"]),  # a part of the name
        ("Zoe", ["Zoë"]),
        ("ZOË", ["Zoë"]),
        ("zoe@example", ["Zoë"]),  # the email, folded too
        ("strasse", ["Straße"]),
        ("\u0301", []),  # folds to nothing: finds nobody, not everybody
        ("%", []),
    ):
        assert await _names(store, q) == want, q
    # an update folds the new name; the limit still holds
    await store.update_contact("ct_3", name="Ångström")
    assert await _names(store, "angstrom") == ["Ångström"]
    assert await _names(store, "strasse") == []
    await store.create_contact("ct_5", name="Émile Bis", now=5.0, saved=True)
    assert [c.id for c in await store.search_contacts("EMILE", limit=1)] == ["ct_1"]


async def test_history_search_folds_case_and_accents(store: Store) -> None:
    await store.create_contact("ct_h", name="Zoë Émile", now=1.0)
    await store.create_conversation(
        Conversation(
            id="cv_h",
            touchpoint_id="tp",
            channel="chat",
            contact_id="ct_h",
            address="v-h",
            state="closed",
            created_at=2.0,
        )
    )
    for q in ("zoe emile", "ZOË ÉMILE", "émile"):
        found = await store.search_conversations(HistoryFilter(text=q, states=("closed",)))
        assert [c.id for c in found] == ["cv_h"], q


# -- a database from before migration 0017 -----------------------------------------------

_OLD_CONTACTS = [
    # (id, number, name, email, saved): two saved contacts with one email (in two
    # cases), as two agents saving at the same instant could leave them
    ("ct_old_a", 1, "Émile Old", "dup@example.com", True),
    ("ct_old_b", 2, "Émile Twin", "DUP@example.com", True),
    ("ct_old_c", 3, "Zoë Sender", "zoe@example.com", False),
]


def _old_rows(false: str, true: str) -> list[str]:
    return [
        "INSERT INTO contacts (id, number, name, email, email_key, phone, created_at, saved)"
        f" VALUES ('{i}', {n}, '{name}', '{email}', '{email.lower()}', '', {n},"
        f" {true if saved else false})"
        for i, n, name, email, saved in _OLD_CONTACTS
    ]


async def _check_migrated(store: Store) -> None:
    """The old rows are found folded, the duplicates are left as they were, and the
    index holds from now on."""
    assert await _names(store, "emile") == ["Émile Old", "Émile Twin"]
    assert await store.search_contacts("zoe") == []  # unsaved: the search lists saved ones
    assert [c.id for c in await store.search_contacts("dup@")] == ["ct_old_a", "ct_old_b"]
    # a name change of the younger twin does not touch its email: it stays as it is
    await store.update_contact("ct_old_b", name="Émile Twin Renamed")
    # saving its email again is refused, like any new duplicate
    with pytest.raises(Conflict):
        await store.update_contact("ct_old_b", email="dup@example.com", saved=True)
    assert (await store.get_contact("ct_old_b")).name == "Émile Twin Renamed"
    with pytest.raises(Conflict):
        await store.create_contact("ct_new", email="Dup@Example.com", now=9.0, saved=True)
    # an unsaved contact may share it (an email sender's, before an agent merges it)
    await store.create_contact("ct_sender", email="dup@example.com", now=10.0)


async def test_sqlite_database_with_duplicates_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for migration in load("sqlite"):
        if migration.version >= 17:
            break
        db.execute("BEGIN")
        for statement in split_sqlite(migration.sql):
            db.execute(statement)
        db.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            (migration.version, migration.name, time.time()),
        )
        db.execute("COMMIT")
    for row in _old_rows("0", "1"):
        db.execute(row)
    db.execute("UPDATE counters SET value = 3 WHERE name = 'contact_number'")
    db.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        await _check_migrated(store)
    finally:
        await store.close()


async def test_postgres_database_with_duplicates_migrates(postgres: services.Postgres) -> None:
    dsn = services.createdb(postgres, f"wsearch_old_{os.getpid()}")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
        )
        for migration in load("postgres"):
            if migration.version >= 17:
                break
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )
        for row in _old_rows("false", "true"):
            await conn.execute(row)
        await conn.execute("SELECT setval('contact_number_seq', 3)")
    finally:
        await conn.close()
    store = PostgresStore(dsn)
    await store.open()
    try:
        await _check_migrated(store)
    finally:
        await store.close()


# -- one saved contact per email ----------------------------------------------------------


async def test_the_store_keeps_one_saved_contact_per_email(store: Store) -> None:
    """Regression: nothing in the database stopped two saved contacts with one email;
    only the service's look-up before saving did, which two saves at the same instant
    both pass."""
    await store.create_contact("ct_a", name="A", now=1.0)
    await store.create_contact("ct_b", name="B", now=2.0)
    results = await asyncio.gather(
        store.update_contact("ct_a", email="same@example.com", saved=True),
        store.update_contact("ct_b", email="SAME@example.com", saved=True),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 1, results
    assert len(await store.search_contacts("same@example.com")) == 1


async def test_two_agents_saving_one_email_at_once_get_one_contact(
    postgres: services.Postgres,
) -> None:
    """Two agents save the same email on two contacts at the same instant, on
    PostgreSQL: one is saved, the other gets what a save after it gets, 409
    contact_exists naming the saved contact."""
    dsn = services.createdb(postgres, f"wsearch_race_{os.getpid()}")
    store = PostgresStore(dsn, max_size=10)
    await store.open()
    try:
        contacts = ContactService(store, time.time)
        for round_ in range(5):
            email = f"race{round_}@example.com"
            ids = [f"ct_r{round_}_{i}" for i in range(2)]
            for i in ids:
                await store.create_contact(i, name=i, now=time.time())
            results = await asyncio.gather(
                *(contacts.save(i, name=i, email=email, phone="") for i in ids),
                return_exceptions=True,
            )
            saved = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, BaseException)]
            assert len(saved) == 1 and len(refused) == 1, results
            assert isinstance(refused[0], ContactExists), refused
            assert refused[0].contact_id == saved[0].id
            assert "already has this email: merge into that contact" in refused[0].message
    finally:
        await store.close()


async def test_one_signed_identity_arriving_twice_at_once_is_one_contact(
    postgres: services.Postgres,
) -> None:
    """A site signs one new email for two visitors whose chats start at the same
    instant, on PostgreSQL: both are the one saved contact (the second save, turned
    away by the unique index, finds the first), never two, never an error."""
    dsn = services.createdb(postgres, f"wsearch_identity_{os.getpid()}")
    store = PostgresStore(dsn, max_size=10)
    await store.open()
    try:
        contacts = ContactService(store, time.time)
        for round_ in range(5):
            who = Identity(email=f"Signed{round_}@example.com", name="Signed")
            found = await asyncio.gather(
                *(contacts.for_conversation("chat", f"v-{round_}-{i}", {}, who) for i in range(2))
            )
            assert found[0].id == found[1].id, found
            for i in range(2):
                at = await store.find_contact_by_address("chat", f"v-{round_}-{i}")
                assert at is not None and at.id == found[0].id
    finally:
        await store.close()


# -- a deleted contact's conversations ---------------------------------------------------


async def _contact_of(node: services.GatewayProcess, admin: AgentClient, cid: str) -> str:
    with http(node, admin) as c:
        r = c.get(f"/api/admin/conversations/{cid}")
        assert r.status_code == 200, r.text
        contact_id: str = r.json()["contact_id"]
    return contact_id


async def _delete(node: services.GatewayProcess, admin: AgentClient, contact_id: str) -> None:
    with http(node, admin) as c:
        r = c.delete(f"/api/admin/contacts/{contact_id}", params={"force": "true"})
        assert r.status_code == 200, r.text


async def _gone(agent: AgentClient, cid: str) -> None:
    """A row of ``cid`` comes, saying it left the agent's list."""
    assert agent.sock
    while True:
        row = (await agent.sock.expect("conversation", timeout=15))["conversation"]
        if row["conversation_id"] == cid and row["place"] == "gone":
            return


async def test_a_deleted_contacts_conversations_leave_the_agents_lists(
    gateway: services.GatewayProcess,
) -> None:
    """Regression: deleting a contact (right to be forgotten, force=true) rebuilt the
    router and sent the Live view again, but the agents' own lists kept its
    conversations (an Assigned one, an Inbox row) until their console reconnected."""
    admin = await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Assigned One")
    await _delete(gateway, admin, await _contact_of(gateway, admin, cid))
    await _gone(agent, cid)
    # A conversation waiting in the Inbox (nobody available): every agent who shows it
    # (the demo agent of its queue, the admin who sees every queue) loses the row.
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "away"})
    await agent.sock.expect("ok", ref="away")
    waiting = demo_visitor(gateway)
    await waiting.bootstrap()
    await waiting.connect()
    cid2 = await waiting.start(name="Inbox One")
    for who in (agent, admin):
        assert who.sock
        while True:
            row = (await who.sock.expect("conversation", timeout=15))["conversation"]
            if row["conversation_id"] == cid2 and row["place"] == "inbox":
                break
    await _delete(gateway, admin, await _contact_of(gateway, admin, cid2))
    await _gone(agent, cid2)
    await _gone(admin, cid2)
    # A console that connects now does not list them either.
    again = AgentClient(gateway, *ADMIN)
    await again.login()
    snapshot = await again.connect()
    listed = {r["conversation_id"] for r in snapshot["inbox"] + snapshot["assigned"]}
    assert not listed & {cid, cid2}
