"""The migration runner both stores share.

Migrations are SQL files in ``migrations/<dialect>/NNNN_name.sql``, applied in version
order. Each is applied in its own transaction together with the row that records it in
``schema_migrations``, so a migration is either fully applied and recorded or not at all.
The dialect supplies a :class:`MigrationTarget` that knows how to run one migration that
way (and takes whatever lock keeps two processes from racing: PostgreSQL an advisory
lock, SQLite its write lock).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, Protocol

from gateway.errors import StoreError

Dialect = Literal["sqlite", "postgres"]

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class MigrationTarget(Protocol):
    async def apply(self, migration: Migration) -> bool:
        """In one transaction: if the version is not recorded yet, run the migration and
        record it. Return whether it ran."""
        ...

    async def newest(self) -> int:
        """The highest version recorded (0 for none)."""
        ...


@cache
def load(dialect: Dialect) -> tuple[Migration, ...]:
    """The dialect's migrations in version order."""
    folder = resources.files("gateway.ports.store").joinpath("migrations", dialect)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILENAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"two {dialect} migrations have version {version}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    if not found:
        raise StoreError(f"no {dialect} migrations found in {folder}")
    return tuple(found[v] for v in sorted(found))


def latest(dialect: Dialect) -> int:
    """The schema version this gateway's migrations bring a database to."""
    return load(dialect)[-1].version


def check_version(version: int | None, dialect: Dialect) -> None:
    """StoreError unless the database is at the version this gateway knows."""
    expected = latest(dialect)
    if version != expected:
        newer = version is not None and version > expected
        raise StoreError(
            f"the database's schema version is {version}, this gateway's is {expected}"
            + (": a newer gateway migrated it; run that version (or newer)" if newer else "")
        )


async def run(target: MigrationTarget, dialect: Dialect) -> list[int]:
    """Apply the pending migrations in order; return the versions applied now. A
    database migrated by a newer gateway (a version this one does not know) is refused
    with StoreError before anything is applied: this gateway would misread it."""
    check_newer = await target.newest()
    if check_newer > latest(dialect):
        check_version(check_newer, dialect)
    applied: list[int] = []
    for migration in load(dialect):
        if await target.apply(migration):
            applied.append(migration.version)
    return applied


def split_sqlite(script: str) -> list[str]:
    """Split a SQLite script into statements (trigger bodies stay whole), so that they
    can run inside a transaction the caller controls (``executescript`` commits first)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _strip_comments(buffer):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buffer!r}")
    return statements


def _strip_comments(sql: str) -> str:
    return "\n".join(
        line for line in sql.splitlines() if line.strip() and not line.strip().startswith("--")
    ).strip()
