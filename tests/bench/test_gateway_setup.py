"""The bench's store seeding with ``BENCH_GATEWAY_SOURCE``: the other checkout's code
writes the data, so the database stays at that checkout's schema version (a newer one,
migrated by this checkout, made its nodes refuse to start: an A/B of a migration failed
with "gateway exited with 3")."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import asyncpg
import pytest

from bench.gateway_setup import seed_store
from devkit import services
from gateway.ports.store.migrate import latest

ROOT = Path(__file__).resolve().parents[2]


async def _version(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT max(version) FROM schema_migrations"))
    finally:
        await conn.close()


def test_an_older_checkout_seeds_at_its_own_schema_version(
    postgres: services.Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = tmp_path / "older"
    skip = shutil.ignore_patterns("__pycache__")
    for package in ("gateway", "bench", "devkit"):
        shutil.copytree(ROOT / package, older / package, ignore=skip)
    # the older checkout: this one without its newest PostgreSQL migration
    newest = latest("postgres")
    for found in (older / "gateway/ports/store/migrations/postgres").glob(f"{newest:04d}_*.sql"):
        found.unlink()
    dsn = services.createdb(postgres, f"seed_{os.getpid()}")
    monkeypatch.setenv("BENCH_GATEWAY_SOURCE", str(older))

    creds = seed_store(dsn, 2, 5)

    assert [email for email, _ in creds] == ["bench0@bench.test", "bench1@bench.test"]
    assert asyncio.run(_version(dsn)) < newest
