"""The admin API's transfer and live list on the node that does not lead the router:
the transfer is forwarded to the leader, carried out there, and the agents' consoles on
both nodes are told; a refusal comes back as its 409 (docs/admin-api.md, "Live
conversations")."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cluster.conftest import Cluster
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import AgentClient
from tests.poll import until

LIVE = "/api/admin/live/conversations"
CONVERSATIONS = "/api/admin/conversations"


async def row_of(agent: AgentClient, cid: str, place: str) -> dict[str, Any]:
    assert agent.sock
    while True:
        row: dict[str, Any] = (await agent.sock.expect("conversation", timeout=15))["conversation"]
        if (row["conversation_id"], row["place"]) == (cid, place):
            return row


async def test_a_transfer_asked_on_a_follower_is_the_leaders(cluster: Cluster) -> None:
    a = cluster.start_node()
    b = cluster.start_node()
    await asyncio.to_thread(wait_for_leader, cluster)
    leader = a if cluster.readiness(a)["router_leader"] else b
    follower = b if leader is a else a

    agent, visitor, cid = await cluster.offered_chat(leader, leader)
    assert agent.sock and visitor.sock
    assert (await agent.act("accept", cid))["type"] == "ok"
    # the admin (of q_support too) comes online on the follower after the accept
    admin = cluster.agent(follower, "admin@demo.test", "demo-admin")
    await admin.login()
    await admin.connect()
    assert admin.sock
    headers = {"Authorization": f"Bearer {admin.token}"}

    async with follower.http(headers=headers, timeout=15) as c:
        # the follower's replica follows the leader's log: nothing announces it to HTTP
        async def rows() -> list[dict[str, Any]]:
            return list((await c.get(LIVE, params={"agent_id": "ag_demo"})).json()["items"])

        listed = await until(rows, lambda ls: [i["id"] for i in ls] == [cid], what="the row")
        assert [(i["id"], i["state"]) for i in listed] == [(cid, "assigned")]

        r = await c.post(f"{CONVERSATIONS}/{cid}/transfer", json={"to_agent_id": "ag_admin"})
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["owner_agent_id"]) == ("assigned", "ag_admin")
        # the receiving console (on the follower) and the previous one (on the leader)
        assert (await admin.sock.expect("sound", event="transferred"))["conversation_id"] == cid
        await row_of(admin, cid, "assigned")
        await row_of(agent, cid, "gone")
        await visitor.sock.expect("event", event="agent_left")

        # refused at the leader, answered on the follower with the router's code
        again = await c.post(f"{CONVERSATIONS}/{cid}/transfer", json={"to_agent_id": "ag_admin"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_transfer")
        after = (await c.get(f"/api/admin/conversations/{cid}")).json()
        assert after["owner_agent_id"] == "ag_admin"
