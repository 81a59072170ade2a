"""The status an agent chose survives what presence does not: Redis restarted empty.

What presence does is tested here, on a real Redis; the end-to-end version (two nodes,
an agent away, Redis killed and restarted empty, the nodes' rosters and new chats read
after it) is tests/cluster/test_redis_restart.py."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from devkit import services
from gateway.ports.presence import RedisPresence, Status


async def test_a_status_chosen_after_redis_restarted_wins_over_the_stored_one() -> None:
    """The store's copy fills in what Redis lost, never over what was chosen since (the
    store is written first, so what Redis holds is as new or newer)."""
    server = services.start_redis()
    client = aioredis.from_url(server.url)
    stored: dict[str, Status] = {"a1": "away", "a2": "away"}
    reads = 0

    async def from_store() -> dict[str, Status]:
        nonlocal reads
        reads += 1
        return dict(stored)

    presence = RedisPresence(client, f"n-{uuid.uuid4().hex[:8]}")
    try:
        await presence.keep_statuses(from_store)
        assert await presence.statuses() == stored
        await client.flushall()  # as a Redis restarted without saving
        stored["a2"] = "available"
        await presence.set_status("a2", "available")  # chosen before anyone read
        # consoles reconnecting at once: the store is read once
        seen = await asyncio.gather(*(presence.statuses() for _ in range(20)))
        assert all(s == {"a1": "away", "a2": "available"} for s in seen)
        assert reads == 2
    finally:
        await client.aclose()
        server.stop()
