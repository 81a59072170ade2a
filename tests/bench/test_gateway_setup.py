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

from bench import automations
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


async def _webhook_ids(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r[0] for r in await conn.fetch("SELECT id FROM webhooks")]
    finally:
        await conn.close()


def _older_checkout(tmp_path: Path) -> Path:
    """This checkout without its newest PostgreSQL migration."""
    older = tmp_path / "older"
    skip = shutil.ignore_patterns("__pycache__")
    for package in ("gateway", "bench", "devkit"):
        shutil.copytree(ROOT / package, older / package, ignore=skip)
    newest = latest("postgres")
    for found in (older / "gateway/ports/store/migrations/postgres").glob(f"{newest:04d}_*.sql"):
        found.unlink()
    return older


def test_an_older_checkout_seeds_at_its_own_schema_version(
    postgres: services.Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = services.createdb(postgres, f"seed_{os.getpid()}")
    monkeypatch.setenv("BENCH_GATEWAY_SOURCE", str(_older_checkout(tmp_path)))

    creds = seed_store(dsn, 2, 5)

    assert [email for email, _ in creds] == ["bench0@bench.test", "bench1@bench.test"]
    assert asyncio.run(_version(dsn)) < latest("postgres")


def test_the_automations_webhook_is_written_and_read_by_the_older_checkout(
    postgres: services.Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = services.createdb(postgres, f"hooks_{os.getpid()}")
    monkeypatch.setenv("BENCH_GATEWAY_SOURCE", str(_older_checkout(tmp_path)))
    seed_store(dsn, 1, 5)

    automations._seed_webhook(dsn, "http://127.0.0.1:9/hooks")

    assert automations._outbox_counts(dsn) == {"pending": 0, "sent": 0, "dead": 0}
    assert asyncio.run(_version(dsn)) < latest("postgres")
    monkeypatch.delenv("BENCH_GATEWAY_SOURCE")
    assert asyncio.run(_webhook_ids(dsn)) == ["wh_bench"]
