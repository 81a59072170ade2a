"""RedisPresence on a real Redis: a burst of sockets coming and going (a node restarting,
every client reconnecting) is written in a few pipelines on one connection, in order."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from devkit import services
from gateway.errors import BusUnavailable
from gateway.ports.presence import RedisPresence


async def test_a_burst_of_connections_is_written_on_one_connection_in_order(
    redis_server: services.Redis,
) -> None:
    client = aioredis.from_url(redis_server.url)
    watcher = aioredis.from_url(redis_server.url)
    presence = RedisPresence(client, f"n-{uuid.uuid4().hex[:8]}")
    try:
        before = (await watcher.info("clients"))["connected_clients"]
        keys = [f"v{i}-{uuid.uuid4().hex[:6]}" for i in range(300)]
        await asyncio.gather(*(presence.connected("contact", k) for k in keys))
        assert set(keys) <= await presence.online("contact")
        # one writer on one connection, not a connection per socket
        assert (await watcher.info("clients"))["connected_clients"] - before <= 3
        # asked together, written in the order asked: connected then gone is gone
        await asyncio.gather(
            presence.connected("contact", "late"),
            presence.disconnected("contact", "late"),
            presence.disconnected("contact", keys[0]),
        )
        online = await presence.online("contact")
        assert "late" not in online and keys[0] not in online and keys[1] in online
    finally:
        await client.aclose()
        await watcher.aclose()


async def test_redis_down_is_bus_unavailable_not_a_redis_error() -> None:
    """A socket opening or closing while Redis restarts gets the gateway's own error
    (its session closes with the try-again code), not redis-py's exception."""
    server = services.start_redis()
    client = aioredis.from_url(server.url)
    presence = RedisPresence(client, f"n-{uuid.uuid4().hex[:8]}")
    try:
        await presence.connected("contact", "v1")
        server.stop()
        with pytest.raises(BusUnavailable):
            await presence.connected("contact", "v2")
        with pytest.raises(BusUnavailable):
            await presence.disconnected("contact", "v1")
        with pytest.raises(BusUnavailable):
            await presence.online("contact")
        with pytest.raises(BusUnavailable):
            await presence.set_status("ag", "away")
        with pytest.raises(BusUnavailable):
            await presence.statuses()
    finally:
        server.stop()
        await client.aclose()
