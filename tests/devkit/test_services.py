"""The session's real PostgreSQL and Redis answer."""

import asyncpg
import redis.asyncio as aioredis

from devkit.services import Postgres, Redis


async def test_postgres_answers(postgres: Postgres) -> None:
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("select 1 + 1") == 2
    finally:
        await conn.close()


async def test_redis_answers(redis_server: Redis) -> None:
    client = aioredis.from_url(redis_server.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
