"""What is particular to one implementation: URLs, files, unreachable databases."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from devkit import services
from gateway.errors import ConfigError, StoreUnavailable
from gateway.model.records import Queue
from gateway.ports.store import create_store
from gateway.ports.store.migrate import load, split_sqlite
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/gateway.db", "data/gateway.db"),
        ("sqlite:////var/lib/gw/gateway.db", "/var/lib/gw/gateway.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_create_store_sqlite_urls(url: str, path: str) -> None:
    store = create_store(url)
    assert isinstance(store, SQLiteStore)
    assert store.path == path


@pytest.mark.parametrize("url", ["postgresql://u@h:5432/db", "postgres://u:p@h/db?sslmode=disable"])
def test_create_store_postgres_urls(url: str) -> None:
    store = create_store(url)
    assert isinstance(store, PostgresStore)
    assert store.dsn == url


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://", "sqlite:///", "gateway.db", ""])
def test_create_store_rejects_other_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        create_store(url)


async def test_sqlite_in_memory() -> None:
    store = create_store("sqlite:///:memory:")
    await store.open()
    try:
        await store.put_queue(Queue(id="q", name="Q"))
        assert await store.list_queues() == [Queue(id="q", name="Q")]
    finally:
        await store.close()


async def test_sqlite_creates_the_parent_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "gateway.db"
    store = SQLiteStore(str(path))
    await store.open()
    await store.close()
    assert path.exists()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
            load("sqlite")
        )


async def test_sqlite_locked_by_another_process_is_unavailable(tmp_path: Path) -> None:
    path = str(tmp_path / "gateway.db")
    store = SQLiteStore(path, busy_timeout=0.1)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.put_queue(Queue(id="q", name="Q"))
        assert time.monotonic() - started < 3
        other.execute("ROLLBACK")
        await store.put_queue(Queue(id="q", name="Q"))  # and it recovers
        assert await store.get_queue("q") == Queue(id="q", name="Q")
    finally:
        other.close()
        await store.close()


async def test_unopened_store_is_unavailable(tmp_path: Path) -> None:
    for store in (SQLiteStore(str(tmp_path / "x.db")), PostgresStore("postgresql://u@h/db")):
        with pytest.raises(StoreUnavailable):
            await store.list_queues()


async def test_postgres_unreachable_is_unavailable() -> None:
    store = PostgresStore(
        f"postgresql://gateway@127.0.0.1:{services.free_port()}/gateway", connect_timeout=2
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.open()
    assert time.monotonic() - started < 5
    assert await store.ping() is False


async def test_postgres_connection_killed_is_unavailable_then_recovers(
    postgres: services.Postgres,
) -> None:
    dsn = services.createdb(postgres, "store_killed")
    store = PostgresStore(dsn, min_size=1, max_size=1, connect_timeout=2)
    await store.open()
    try:
        await store.put_queue(Queue(id="q", name="Q"))
        # the server ends the connection mid-operation (as on a restart or failover)
        with pytest.raises(StoreUnavailable):
            async with store._connection() as c:
                await c.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        # the pool replaces the dead connection; the store keeps working
        assert await store.get_queue("q") == Queue(id="q", name="Q")
        assert await store.ping() is True
    finally:
        await store.close()


def test_split_sqlite_keeps_trigger_bodies_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE t (a INTEGER); -- trailing
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET a = a + 1; UPDATE t SET a = a - 1;
    END;
    -- the end
    """
    statements = split_sqlite(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_both_dialects_have_the_same_migration_versions() -> None:
    assert [m.version for m in load("sqlite")] == [m.version for m in load("postgres")]
