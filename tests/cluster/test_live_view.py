"""The supervisor's live view across nodes: a supervisor whose socket is on a follower
gets the live view from that node's replica and is told of the leader's decisions, and
monitors a conversation whose messages arrive through another node."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cluster.conftest import Cluster
from tests.cluster.test_two_nodes import wait_for_leader


async def test_a_supervisor_on_a_follower_sees_the_leaders_decisions(cluster: Cluster) -> None:
    a = cluster.start_node()
    b = cluster.start_node()
    await asyncio.to_thread(wait_for_leader, cluster)
    leader = a if cluster.readiness(a)["router_leader"] else b
    follower = b if leader is a else a

    admin = cluster.agent(follower, "admin@demo.test", "demo-admin")
    await admin.login()
    await admin.connect()
    assert admin.sock
    await admin.sock.send({"type": "status", "status": "away", "ref": "s"})
    await admin.sock.expect("ok", ref="s")
    await admin.sock.send({"type": "live"})
    live = await admin.sock.expect("live")
    statuses = {x["agent_id"]: x["status"] for x in live["agents"]}
    assert statuses["ag_demo"] == "offline" and "ag_admin" in statuses

    async def update(test: Any) -> dict[str, Any]:
        assert admin.sock
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            frame = await admin.sock.expect("live_update", timeout=deadline - loop.time())
            if test(frame):
                return frame

    agent, visitor, cid = await cluster.offered_chat(leader, leader)
    assert agent.sock and visitor.sock

    await update(
        lambda u: any(c.get("offer_agent_id") == "ag_demo" for c in u.get("conversations", []))
    )
    assert (await agent.act("accept", cid))["type"] == "ok"
    taken = await update(
        lambda u: any(c.get("agent_id") == "ag_demo" for c in u.get("conversations", []))
    )
    assert {x["agent_id"]: x["load"] for x in taken["agents"]}["ag_demo"] == 25
    # The follower's own snapshot agrees with what it was told.
    await admin.sock.send({"type": "live"})
    again = await admin.sock.expect("live")
    assert [c["agent_id"] for c in again["conversations"]] == ["ag_demo"]

    # Monitoring from the follower: the visitor writes through the leader.
    await admin.sock.send({"type": "monitor", "conversation_id": cid})
    await admin.sock.expect("ok", ref=f"monitor:{cid}")
    await visitor.say("seen from the other node")
    got = await admin.sock.expect("message", body="seen from the other node")
    assert got["conversation_id"] == cid
