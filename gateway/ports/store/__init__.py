"""The store: the interface in base.py, SQLite and PostgreSQL beside it."""

from __future__ import annotations

from gateway.errors import ConfigError
from gateway.ports.store.base import Store


def create_store(database_url: str) -> Store:
    """The store a database URL names (not opened yet).

    ``sqlite:///relative/path``, ``sqlite:////absolute/path``, ``sqlite:///:memory:``,
    ``postgresql://...`` or ``postgres://...`` (passed to asyncpg as given).
    """
    scheme, sep, rest = database_url.partition("://")
    if sep and scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(
                f"database URL {database_url!r}: use sqlite:///relative/path, "
                "sqlite:////absolute/path or sqlite:///:memory:"
            )
        from gateway.ports.store.sqlite import SQLiteStore

        return SQLiteStore(rest[1:])
    if sep and scheme in ("postgresql", "postgres"):
        from gateway.ports.store.postgres import PostgresStore

        return PostgresStore(database_url)
    raise ConfigError(
        f"database URL {database_url!r}: unsupported scheme; "
        "use sqlite:///path or postgresql://user@host/db"
    )
