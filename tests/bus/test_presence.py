"""RedisPresence on a real Redis: a burst of sockets coming and going (a node restarting,
every client reconnecting) is written in a few pipelines on one connection, in order."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from devkit import services
from gateway.errors import BusUnavailable
from gateway.ports import presence as presence_module
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


async def test_a_refresh_and_a_stop_write_in_chunks_and_never_revive_a_closed_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refresh pushes every entry of this node ahead a few hundred at a time (one
    HSET of all of them held the event loop for about 95 ms at 19,000 sockets), in order
    with the sockets' own writes: an entry deleted while it runs stays deleted."""
    monkeypatch.setattr(presence_module, "REFRESH_CHUNK", 50)
    server = services.start_redis()  # its own: the HSETs counted are this test's alone
    client = aioredis.from_url(server.url)
    presence = RedisPresence(client, "n-chunks", ttl=60.0)
    try:
        keys = [f"chat:v{i:03d}" for i in range(175)]
        await asyncio.gather(*(presence.connected("contact", k) for k in keys))
        before = await client.hgetall("gw:presence:contact")
        hsets = (await client.info("commandstats"))["cmdstat_hset"]["calls"]
        closed = keys[-1]  # in the refresh's last chunk, written after the deletion
        await asyncio.gather(presence.refresh(), presence.disconnected("contact", closed))
        after = {
            f.decode(): float(v) for f, v in (await client.hgetall("gw:presence:contact")).items()
        }
        assert f"{closed}|n-chunks" not in after
        assert set(after) == {f"{k}|n-chunks" for k in keys[:-1]}
        assert all(after[f.decode()] > float(v) for f, v in before.items() if f.decode() in after)
        stats = await client.info("commandstats")
        assert stats["cmdstat_hset"]["calls"] - hsets == 4  # 175 entries, 50 per HSET
        assert stats["cmdstat_hdel"]["calls"] == 1
        await presence.stop()  # its entries deleted, 50 to an HDEL too
        assert not await client.exists("gw:presence:contact")
        assert (await client.info("commandstats"))["cmdstat_hdel"]["calls"] == 1 + 4
    finally:
        await client.aclose()
        server.stop()


async def test_is_online_finds_a_key_on_any_node_without_reading_every_entry() -> None:
    """One key's presence is matched in Redis (HSCAN with the key as a literal pattern),
    not read out of every visitor's entry (HGETALL) for one answer."""
    server = services.start_redis()  # its own: the commands counted are this test's alone
    client = aioredis.from_url(server.url)
    here, there = RedisPresence(client, "n-here"), RedisPresence(client, "n-there")
    try:
        others = [f"chat:o{i}" for i in range(2500)]  # more than one HSCAN page
        await asyncio.gather(*(there.connected("contact", k) for k in [*others, "chat:v2"]))
        await there.connected("contact", "chat:v*1")
        await here.connected("contact", "chat:mine")
        await client.hset("gw:presence:contact", "chat:gone|n-dead", "1.0")  # expired
        assert await here.is_online("contact", "chat:v2")  # on the other node
        assert await here.is_online("contact", "chat:v*1")
        assert not await here.is_online("contact", "chat:v*")  # a literal, not a glob
        assert not await here.is_online("contact", "chat:gone")
        assert await here.is_online("contact", "chat:mine")
        await there.disconnected("contact", "chat:v2")
        assert not await here.is_online("contact", "chat:v2")
        assert "cmdstat_hgetall" not in await client.info("commandstats")
    finally:
        await client.aclose()
        server.stop()


async def test_prune_deletes_a_dead_nodes_contact_entries_a_page_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node that died without stopping leaves an entry per socket; since is_online
    reads one key's, the leader's sweep deletes them a page per call."""
    monkeypatch.setattr(presence_module, "SCAN_PAGE", 100)
    server = services.start_redis()
    client = aioredis.from_url(server.url)
    alive = RedisPresence(client, "n-alive")
    try:
        live = [f"chat:live{i}" for i in range(50)]
        await asyncio.gather(*(alive.connected("contact", k) for k in live))
        dead = {f"chat:d{i}|n-dead": "1.0" for i in range(1000)}
        await client.hset("gw:presence:contact", mapping=dead)
        pruner = RedisPresence(client, "n-leader")
        calls = 1
        while not await pruner.prune():
            calls += 1
            assert calls < 100
        left = {f.decode() for f in await client.hkeys("gw:presence:contact")}
        assert left == {f"{k}|n-alive" for k in live}
        assert calls > 1  # a page at a time, not every entry in one call
    finally:
        await client.aclose()
        server.stop()


async def test_a_refused_write_fails_its_caller_alone_and_a_lost_connection_is_replaced() -> None:
    """Presence packs its own HSET/HDEL and reads every reply of a batch: a command Redis
    refuses fails the caller that asked for it, the others of its batch are written, and
    the connection stays in step; a batch whose connection is lost before its replies is
    sent again on a new one."""
    server = services.start_redis()
    client = aioredis.from_url(server.url)
    watcher = aioredis.from_url(server.url)
    presence = RedisPresence(client, "n-steps")
    try:
        await client.set("gw:presence:agent", "not a hash")  # HSET on it: WRONGTYPE
        refused, written = await asyncio.gather(
            presence.connected("agent", "ag1"),
            presence.connected("contact", "chat:v1"),
            return_exceptions=True,
        )
        assert "WRONGTYPE" in str(refused) and written is None
        assert await presence.online("contact") == {"chat:v1"}
        await client.delete("gw:presence:agent")
        # Redis holds the HSET (writes paused) and the connection is killed under it.
        await watcher.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
        write = asyncio.create_task(presence.connected("agent", "ag1"))
        held = await _blocked_client(watcher)
        await watcher.execute_command("CLIENT", "KILL", "ID", held)
        await watcher.execute_command("CLIENT", "UNPAUSE")
        await asyncio.wait_for(write, 10)  # sent again, no error for the caller
        assert await presence.online("agent") == {"ag1"}
    finally:
        await client.aclose()
        await watcher.aclose()
        server.stop()


async def _blocked_client(watcher: aioredis.Redis) -> str:
    """The id of the client whose command Redis holds back (CLIENT PAUSE)."""
    async with asyncio.timeout(10):
        while True:
            listing = await watcher.execute_command("CLIENT", "LIST")
            text = listing.decode() if isinstance(listing, bytes) else listing
            for line in text.splitlines():
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                if "b" in fields.get("flags", "") and fields.get("cmd") == "hset":
                    return fields["id"]
            await asyncio.sleep(0.01)
