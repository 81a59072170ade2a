"""Finding and keeping contacts in the store, on SQLite and PostgreSQL: the search folds
case and accents the same way on both (contacts written before the folded columns
existed included), one saved contact per email also when two saves come at the same
instant, and a database that already holds duplicates still migrates (0017)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest

from devkit import services
from devkit.inprocess import InProcessGateway
from gateway.auth import Identity
from gateway.errors import Conflict
from gateway.model.records import Conversation
from gateway.ports.store.base import HistoryFilter, Store
from gateway.ports.store.migrate import load, split_sqlite
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.sqlite import SQLiteStore
from gateway.services.contacts import ContactService


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
    """The old rows are found the older way until folded, then folded; the duplicates
    are left as they were, and the index holds from now on."""
    assert await _names(store, "twin") == ["Émile Twin"]  # lower(): ASCII folds
    assert await _names(store, "emile") == []  # not folded yet
    assert await store.fold_contacts() == 3
    assert await store.fold_contacts() == 0
    assert await _names(store, "emile") == ["Émile Old", "Émile Twin"]
    assert await store.search_contacts("zoe") == []  # unsaved: the search lists saved ones
    assert [c.id for c in await store.search_contacts("dup@")] == ["ct_old_a", "ct_old_b"]
    # a name change of the younger twin does not touch its email: it stays as it is
    await store.update_contact("ct_old_b", name="Émile Twin Renamed")
    # Saved again as it is, it stays marked: a signed visitor of its address comes back
    # with a phone (the mark went, the index refused the contact the visitor is, and
    # every start of theirs failed).
    await store.link_address("chat", "v-twin", "ct_old_b", now=5.0)
    contacts = ContactService(store, lambda: 6.0)
    back = await contacts.for_conversation("chat", "v-twin", {}, Identity(phone="+15550100"))
    assert back.id == "ct_old_b" and back.phone == "+15550100"
    await store.update_contact("ct_old_b", email="dup@example.com", saved=True)
    # Given another email and then this one again, it is a duplicate as any other.
    await store.update_contact("ct_old_b", email="twin@example.com")
    with pytest.raises(Conflict):
        await store.update_contact("ct_old_b", email="dup@example.com")
    assert (await store.get_contact("ct_old_b")).email == "twin@example.com"
    with pytest.raises(Conflict):
        await store.create_contact("ct_new", email="Dup@Example.com", now=9.0, saved=True)
    # an unsaved contact may share it (an email sender's, before an agent merges it)
    await store.create_contact("ct_sender", email="dup@example.com", now=10.0)


def _sqlite_before_0017(path: Path) -> None:
    """A SQLite database as 0016 left it, holding _OLD_CONTACTS."""
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


async def test_sqlite_database_with_duplicates_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _sqlite_before_0017(path)
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


async def test_a_node_folds_the_older_contacts_as_it_starts(tmp_path: Path) -> None:
    """The gateway fills the folded columns of the contacts written before them beside
    its start-up (gateway/app.py), so a console search finds "Émile" by "emile"."""
    path = tmp_path / "old.db"
    _sqlite_before_0017(path)
    async with InProcessGateway({"GATEWAY_DATABASE_URL": f"sqlite:///{path}"}) as gw:
        folding = gw.node._folding
        assert folding is not None
        async with asyncio.timeout(30):
            await asyncio.shield(folding)
        assert await _names(gw.node.store, "emile") == ["Émile Old", "Émile Twin"]
