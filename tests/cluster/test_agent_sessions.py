"""Agents connecting to a follower while the cluster's router is in flux: a hello either
gets its snapshot or a close code that tells the console to reconnect; never a final
code for a retryable condition, never an unhandled error."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devkit import services
from gateway.errors import RECONNECT
from tests.cluster.conftest import Cluster
from tests.cluster.test_faults import two_nodes
from tests.gateway.client import AgentClient, Socket


async def hello_outcome(agent: AgentClient) -> str | int:
    """'snapshot', or the code the server closed the socket with."""
    ws = await connect(agent.node.ws_url + "/ws/agent", origin=agent.origin)  # type: ignore[arg-type]
    sock = Socket(ws)
    try:
        await sock.send({"type": "hello", "v": 1, "token": agent.token})
        frame = await sock.recv(timeout=20)
        return "snapshot" if frame["type"] == "snapshot" else frame["type"]
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006
    finally:
        await ws.close()


async def test_agents_created_on_the_leader_connect_to_a_follower_at_once(
    cluster: Cluster,
) -> None:
    """A hello that reaches a follower before its replica knows the agent waits for the
    replica, or is refused as retryable (it used to fail with an unhandled UnknownAgent
    and an ASGI traceback)."""
    leader, follower = two_nodes(cluster)
    admin = cluster.agent(leader, "admin@demo.test", "demo-admin")
    await admin.login()
    outcomes: list[str | int] = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {admin.token}"}) as http:
        for i in range(12):
            r = await http.post(
                leader.base_url + "/api/admin/agents",
                json={
                    "id": f"ag_new{i}",
                    "email": f"new{i}@demo.test",
                    "name": f"New {i}",
                    "queue_ids": ["q_support"],
                    "password": "pw-new-agent",
                },
            )
            assert r.status_code == 201, r.text
            agent = cluster.agent(follower, f"new{i}@demo.test", "pw-new-agent")
            await agent.login()
            outcomes.append(await hello_outcome(agent))
    assert all(o == "snapshot" or o in RECONNECT for o in outcomes), outcomes
    assert outcomes.count("snapshot") >= 6, outcomes
    for node in (leader, follower):
        assert "Traceback" not in node.output(), node.output()[-3000:]


async def test_agents_reconnecting_during_a_leader_failover_are_told_to_retry(
    cluster: Cluster,
) -> None:
    """While no node leads the router (its leader was killed), a hello on the survivor
    closes with a reconnect code, never with the final 4003 that logs the console out;
    once the survivor leads, the hello gets its snapshot."""
    leader, follower = two_nodes(cluster)
    agent = cluster.agent(follower)
    await agent.login()
    assert await hello_outcome(agent) == "snapshot"
    leader.stop(signal.SIGKILL)
    outcomes: list[str | int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        outcome = await hello_outcome(agent)
        outcomes.append(outcome)
        if outcome == "snapshot" and Cluster.readiness(follower)["router_leader"]:
            break
        await asyncio.sleep(0.2)
    assert outcomes[-1] == "snapshot", outcomes
    assert all(o == "snapshot" or o in RECONNECT for o in outcomes), outcomes
    assert isinstance(follower, services.GatewayProcess) and follower.alive()
    # A hello that had its snapshot may still wait on the dead leader to come online
    # (its client gone): it ends with a refusal, by the forward's timeout or the stop.
    # Closing a socket already gone is quiet: no "Exception in ASGI application".
    follower.stop()
    assert "Traceback" not in follower.output(), follower.output()[-3000:]


async def test_a_forward_waiting_on_a_dead_leader_ends_when_this_node_is_elected(
    cluster: Cluster,
) -> None:
    """A follower's event waits for the leader's answer up to the forward's timeout.
    When the leader died and the follower is elected meanwhile, nobody will answer: the
    event is refused at once as retryable (router_unavailable), not after the timeout,
    and its retry is applied on the node that now leads."""
    # Longer than the test waits: without the election ending it, the answer would come
    # only after two minutes.
    cluster.extra_env["GATEWAY_ROUTER_FORWARD_TIMEOUT"] = "120"
    leader, follower = two_nodes(cluster)
    agent = cluster.agent(follower)
    await agent.login()
    await agent.connect()
    assert agent.sock is not None
    # Answered once the session reads frames, i.e. once the hello's own event (the agent
    # online) has been applied by the leader.
    await agent.sock.send({"type": "status", "status": "available", "ref": "s0"})
    assert (await agent.sock.expect_any(("ok", "error"), ref="s0"))["type"] == "ok"
    leader.stop(signal.SIGKILL)
    # Sent at once: the follower still follows (its lease takes 2 s to lapse) and
    # forwards the status change to the dead leader.
    await agent.sock.send({"type": "status", "status": "away", "ref": "s1"})
    refused = await agent.sock.expect_any(("ok", "error"), ref="s1", timeout=60)
    assert refused["type"] == "error" and refused["code"] == "router_unavailable", refused
    assert refused["retryable"] is True
    assert Cluster.readiness(follower)["router_leader"]
    await agent.sock.send({"type": "status", "status": "away", "ref": "s2"})
    assert (await agent.sock.expect_any(("ok", "error"), ref="s2"))["type"] == "ok"
    status = await agent.sock.expect("status", status="away")
    assert status["capacity"] > 0
    follower.stop()
    assert "Traceback" not in follower.output(), follower.output()[-3000:]
