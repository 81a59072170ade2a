"""The store fixtures: every contract test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable

import pytest

from devkit import services
from gateway.ports.store.base import Store
from gateway.ports.store.postgres import PostgresStore
from gateway.ports.store.sqlite import SQLiteStore

StoreFactory = Callable[[], Store]

_db_names = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> StoreFactory:
    """A factory of (unopened) stores on one fresh database: SQLite in a file under
    tmp_path, PostgreSQL in a database made for this test."""
    if request.param == "sqlite":
        path = os.path.join(tmp_path, "data", "gateway.db")
        return lambda: SQLiteStore(path)
    pg: services.Postgres = request.getfixturevalue("postgres")
    dsn = services.createdb(pg, f"store_{os.getpid()}_{next(_db_names)}")
    return lambda: PostgresStore(dsn, max_size=10)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Store]:
    s = make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()
