"""The status an agent chose survives what presence does not: Redis restarted empty."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import redis.asyncio as aioredis

from devkit import services
from gateway.ports.presence import RedisPresence, Status
from tests.cluster.conftest import Cluster
from tests.cluster.test_faults import two_nodes
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import AgentClient


async def demo_agent_status(node: services.GatewayProcess, token: str) -> str | None:
    """ag_demo's status in the router ``node`` reads (the transfer dialog's roster); None
    while the node cannot say (Redis or the lease coming back)."""
    try:
        async with node.http(headers={"Authorization": f"Bearer {token}"}) as http:
            r = await http.get("/api/console/agents")
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    return next(str(a["status"]) for a in r.json() if a["agent_id"] == "ag_demo")


async def wait_status(node: services.GatewayProcess, token: str, until: set[str]) -> str:
    deadline = time.monotonic() + 60
    while (status := await demo_agent_status(node, token)) not in until:
        assert time.monotonic() < deadline, f"ag_demo stayed {status}"
        await asyncio.sleep(0.1)
    assert status is not None
    return status


async def reconnect(agent: AgentClient) -> None:
    """As the console does: 1013 (try again) while Redis and the lease come back."""
    deadline = time.monotonic() + 60
    while True:
        try:
            await agent.connect()
            return
        except Exception:
            assert time.monotonic() < deadline, "the console never got back in"
            await asyncio.sleep(0.5)


async def test_an_agent_away_before_redis_restarts_empty_stays_away(cluster: Cluster) -> None:
    leader, follower = two_nodes(cluster)
    agent = cluster.agent(follower)
    await agent.login()
    await agent.connect()
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away"})
    assert (await agent.sock.expect("status"))["status"] == "away"
    # Offline while Redis restarts, so the first status the router gives them after it
    # is read from presence, not kept from before.
    await agent.sock.close()
    await wait_status(leader, agent.token, {"offline"})
    # a socket on each node, closed (1012) once the node has resubscribed after the gap:
    # a console connecting earlier would be closed then too
    watchers = [cluster.visitor(node) for node in (leader, follower)]
    for watcher in watchers:
        await watcher.bootstrap()
        await watcher.connect()
    cluster.redis.proc.kill()
    cluster.redis.proc.wait()
    services.restart_redis(cluster.redis)
    for watcher in watchers:
        assert watcher.sock
        assert await watcher.sock.expect_close(timeout=60) == 1012
    leader = await asyncio.to_thread(wait_for_leader, cluster)
    assert isinstance(leader, services.GatewayProcess)

    await reconnect(agent)
    assert agent.snapshot["agent"]["status"] == "away"
    assert await wait_status(leader, agent.token, {"available", "away"}) == "away"
    # and nothing rings for them: a new chat waits in the Inbox
    visitor = cluster.visitor(leader)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Kim")  # acknowledged once routed
    conn = await asyncpg.connect(cluster.database_url)
    try:
        state = await conn.fetchval("select state from conversations where id = $1", cid)
    finally:
        await conn.close()
    assert state == "waiting"


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
