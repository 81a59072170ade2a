"""Faults against real processes during chat traffic: nothing acknowledged is lost,
nothing is delivered twice, every client ends up in sequence order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import asyncpg
import redis.asyncio as aioredis

from devkit import services
from tests.cluster.conftest import Cluster
from tests.cluster.resilient import ResilientVisitor
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import AgentClient, accepted_chat


async def start_chat(
    cluster: Cluster, visitor_node: services.GatewayProcess, agent_node: services.GatewayProcess
) -> tuple[AgentClient, ResilientVisitor, str]:
    """A visitor on one node in a conversation accepted by the demo agent on another."""
    agent, v = cluster.agent(agent_node), cluster.visitor(visitor_node)
    cid = await accepted_chat(agent, v, name="Noor")
    assert v.sock
    await v.sock.close()
    rv = ResilientVisitor(cluster, v.token, cid)
    await rv.connect()
    return agent, rv, cid


async def stored(cluster: Cluster, cid: str) -> list[tuple[int, str, str]]:
    conn = await asyncpg.connect(cluster.database_url)
    try:
        rows = await conn.fetch(
            "select seq, sender, client_msg_id from messages where conversation_id = $1 order by seq",
            cid,
        )
    finally:
        await conn.close()
    return [(r["seq"], r["sender"], r["client_msg_id"]) for r in rows]


async def check_nothing_lost(cluster: Cluster, rv: ResilientVisitor, cid: str) -> None:
    rows = await stored(cluster, cid)
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "sequence numbers have a gap"
    ids = [r[2] for r in rows if r[1] == "contact"]
    assert len(ids) == len(set(ids)), "a retried message was stored twice"
    for client_id, seq in rv.acked.items():
        assert (seq, "contact", client_id) in rows, f"acknowledged message {client_id} is gone"
    await rv.catch_up(seqs[-1])
    assert sorted(set(rv.seen) | set(rv.acked.values())) == seqs


def two_nodes(cluster: Cluster) -> tuple[services.GatewayProcess, services.GatewayProcess]:
    cluster.start_node()
    cluster.start_node()
    leader = wait_for_leader(cluster)
    follower = next(n for n in cluster.nodes if n is not leader)
    assert isinstance(leader, services.GatewayProcess)
    return leader, follower


async def test_a_killed_node_loses_nothing(cluster: Cluster) -> None:
    leader, follower = two_nodes(cluster)
    agent, rv, cid = await start_chat(cluster, visitor_node=follower, agent_node=leader)
    for i in range(5):
        await rv.send(f"before {i}")
    follower.stop(signal.SIGKILL)
    for i in range(5):
        await rv.send(f"after {i}")
    assert rv.node is leader
    await agent.say(cid, "still here")
    await check_nothing_lost(cluster, rv, cid)


async def test_the_router_leader_killed_another_takes_over(cluster: Cluster) -> None:
    leader, follower = two_nodes(cluster)
    agent, rv, first = await start_chat(cluster, visitor_node=follower, agent_node=follower)
    await rv.send("hello")
    killed_at = time.monotonic()
    leader.stop(signal.SIGKILL)
    # A new visitor arrives during the failover: the start may be refused as retryable
    # until the survivor holds the lease, then it is routed.
    v2 = cluster.visitor(follower)
    await v2.bootstrap()
    await v2.connect()
    assert v2.sock and agent.sock
    # The first message routes the conversation; until it is acknowledged the client
    # sends the same start again (same client_msg_id: stored once, routed once).
    second = ""
    start = {"type": "start", "fields": {}, "message": "Hi", "client_msg_id": "first-v2"}
    for _ in range(30):
        await v2.sock.send(start)
        answer = await v2.sock.expect_any(("ack", "error"), timeout=15)
        if answer["type"] == "ack":
            second = answer["conversation_id"]
            break
        assert answer["retryable"] is True and answer["code"] == "router_unavailable"
        await asyncio.sleep(0.5)
    assert second
    offer = await agent.sock.expect("offer", timeout=15)
    assert offer["conversation"]["conversation_id"] == second
    took = time.monotonic() - killed_at
    assert Cluster.readiness(follower)["router_leader"] is True
    assert (await agent.act("accept", second))["type"] == "ok"
    conn = await asyncpg.connect(cluster.database_url)
    try:
        owners = await conn.fetch(
            "select owner_agent_id, sum(weight) as load, count(*) from conversations "
            "where state in ('assigned', 'wrapup') group by owner_agent_id"
        )
    finally:
        await conn.close()
    assert [(r["owner_agent_id"], r["count"]) for r in owners] == [("ag_demo", 2)]
    assert all(r["load"] <= 100 for r in owners)
    assert took < 15
    await rv.send("after the failover")
    await check_nothing_lost(cluster, rv, first)


async def test_redis_restarted_without_saving_loses_nothing(cluster: Cluster) -> None:
    leader, follower = two_nodes(cluster)
    _, rv, cid = await start_chat(cluster, visitor_node=follower, agent_node=leader)
    for i in range(3):
        await rv.send(f"before {i}")
    cluster.redis.proc.kill()
    cluster.redis.proc.wait()
    services.restart_redis(cluster.redis)
    for i in range(3):
        await rv.send(f"after {i}")
    await check_nothing_lost(cluster, rv, cid)
    assert all(n.alive() for n in (leader, follower))
    await asyncio.to_thread(wait_for_leader, cluster)


async def test_a_killed_pubsub_connection_resubscribes_and_clients_resume(cluster: Cluster) -> None:
    leader, follower = two_nodes(cluster)
    agent, rv, cid = await start_chat(cluster, visitor_node=follower, agent_node=leader)
    await rv.send("before")
    client = aioredis.from_url(cluster.redis.url)
    try:
        killed = await client.client_kill_filter(_type="pubsub")
    finally:
        await client.aclose()
    assert killed >= 2
    # Every socket was told to reconnect (1012), so none stays open while deaf.
    assert agent.sock
    assert await agent.sock.expect_close() == 1012
    await rv.send("after")
    assert 1012 in rv.close_codes
    agent2 = cluster.agent(leader)
    agent2.token = agent.token
    await agent2.connect()
    assert agent2.sock
    await agent2.say(cid, "reply after the gap")
    await check_nothing_lost(cluster, rv, cid)


async def test_postgresql_down_refuses_sends_as_retryable_and_recovers(
    postgres: services.Postgres,
) -> None:
    pg = services.start_postgres()
    redis = services.start_redis()
    cluster = Cluster(pg, pg.dsn, redis, f"http://127.0.0.1:{services.free_port()}")
    try:
        node = cluster.start_node()
        await asyncio.to_thread(wait_for_leader, cluster)
        v = cluster.visitor(node)
        await v.bootstrap()
        await v.connect()
        await v.start("before")
        assert v.sock
        pg.stop()
        # Bounds for a loaded 2-core machine (load average 5-7): each answer may take
        # long (the pool's reconnect attempts), so count answers, not seconds.
        refused = 0
        while refused < 5:
            client_id = uuid.uuid4().hex
            await v.sock.send({"type": "send", "body": "while down", "client_msg_id": client_id})
            frame = await v.sock.expect_any(("ack", "error"), timeout=120)
            assert frame["type"] == "error", f"acknowledged while the database was down: {frame}"
            assert frame["retryable"] is True and frame["code"] == "store_unavailable"
            refused += 1
        assert node.alive()
        services.restart_postgres(pg)
        ack = None
        recovered_by = time.monotonic() + 180
        while ack is None and time.monotonic() < recovered_by:
            client_id = uuid.uuid4().hex
            await v.sock.send({"type": "send", "body": "after", "client_msg_id": client_id})
            frame = await v.sock.expect_any(("ack", "error"), timeout=120)
            if frame["type"] == "ack":
                ack = frame
            else:
                await asyncio.sleep(0.5)  # the pool reconnects on its own; retry as a client would
        assert ack is not None, "the node did not recover by itself"
        conn = await asyncpg.connect(pg.dsn)
        try:
            bodies = [
                r["body"]
                for r in await conn.fetch(
                    "select body from messages where sender = 'contact' order by seq"
                )
            ]
        finally:
            await conn.close()
        assert bodies == ["before", "after"]
    finally:
        cluster.stop()
        pg.stop()


async def test_a_stopped_client_is_dropped_and_goes_offline(cluster: Cluster) -> None:
    cluster.extra_env = {"GATEWAY_PING_INTERVAL": "1", "GATEWAY_PING_TIMEOUT": "1"}
    node = cluster.start_node()
    await asyncio.to_thread(wait_for_leader, cluster)
    v = cluster.visitor(node)
    await v.bootstrap()
    script = textwrap.dedent(f"""
        import asyncio, json
        from websockets.asyncio.client import connect
        async def main():
            ws = await connect({node.ws_url + "/ws/visitor"!r}, origin={cluster.public!r}, ping_interval=None)
            await ws.send(json.dumps({{"type": "hello", "v": 1, "token": {v.token!r}}}))
            await ws.recv()
            print("ready", flush=True)
            await asyncio.sleep(120)
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ)  # noqa: ASYNC220
    client = aioredis.from_url(cluster.redis.url)
    try:
        assert proc.stdout and proc.stdout.readline().strip() == b"ready"
        fields = await client.hkeys("gw:presence:contact")
        assert any(f.decode().startswith(f"chat:{v.visitor_id}|") for f in fields)
        os.kill(proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        while any(
            f.decode().startswith(f"chat:{v.visitor_id}|")
            for f in await client.hkeys("gw:presence:contact")
        ):
            assert time.monotonic() - stopped < 10, "the stopped client was never dropped"
            await asyncio.sleep(0.1)
        dropped_after = time.monotonic() - stopped
        # Ping every 1 s, 1 s to answer: dropped within about 2 s (plus scheduling).
        assert dropped_after < 6
    finally:
        await client.aclose()
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()


async def test_a_rolling_restart_under_load_loses_nothing(cluster: Cluster) -> None:
    a, b = two_nodes(cluster)
    _, rv, cid = await start_chat(cluster, visitor_node=a, agent_node=b)
    stop = asyncio.Event()
    sent = 0

    async def traffic() -> None:
        nonlocal sent
        while not stop.is_set():
            await rv.send(f"message {sent}")
            sent += 1

    async def more_traffic(count: int) -> None:
        # Under load: let some messages through before each step.
        target = sent + count
        while sent < target:
            assert not runner.done(), runner
            await asyncio.sleep(0.01)

    runner = asyncio.create_task(traffic())
    try:
        for old in (a, b):
            await more_traffic(5)
            port = old.port
            began = time.monotonic()
            code = await asyncio.to_thread(old.stop, signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises SIGTERM (exit -15).
            assert code in (0, -signal.SIGTERM), old.output()[-2000:]
            assert "drained and stopped" in old.output()
            assert time.monotonic() - began < 10  # GATEWAY_DRAIN_TIMEOUT
            await asyncio.to_thread(cluster.start_node, port)
        await more_traffic(5)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 60)
    assert sent >= 10
    assert 1012 in rv.close_codes, "a drained node must tell its clients to reconnect"
    await check_nothing_lost(cluster, rv, cid)
