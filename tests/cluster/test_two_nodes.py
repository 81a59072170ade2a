"""Two nodes behind one (notional) load balancer: one router, chat across nodes."""

from __future__ import annotations

import asyncio
import time

from tests.cluster.conftest import Cluster


def wait_for_leader(cluster: Cluster, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = cluster.leader()
        if leader is not None:
            return leader
        time.sleep(0.1)
    raise TimeoutError("no router leader")


async def test_exactly_one_leader_and_a_chat_across_nodes(cluster: Cluster) -> None:
    a = cluster.start_node()
    b = cluster.start_node()
    await asyncio.to_thread(wait_for_leader, cluster)
    leaders = [n for n in (a, b) if cluster.readiness(n)["router_leader"]]
    assert len(leaders) == 1
    follower = b if leaders[0] is a else a

    agent = cluster.agent(follower)
    await agent.login()
    await agent.connect()
    visitor = cluster.visitor(leaders[0])
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Kim")
    assert agent.sock and visitor.sock
    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == cid
    accepted = await agent.act("accept", cid)
    assert accepted["type"] == "ok", accepted
    await visitor.sock.expect("event", event="agent_joined")
    await visitor.say("across nodes")
    got = await agent.sock.expect("message", conversation_id=cid, sender="visitor")
    assert got["body"] == "across nodes"
    await agent.say(cid, "heard you")
    reply = await visitor.sock.expect("message", sender="agent")
    assert reply["body"] == "heard you"
    # A refusal from the leader travels back to the follower's client.
    again = await agent.act("accept", cid)
    assert again["type"] == "error" and again["code"] in ("already_assigned", "not_offered")

    # The visitor's second tab, on the other node, gets the messages the first tab
    # sends; the first tab has each only in its ack (the echo leaves it out, on its node).
    tab = cluster.visitor(follower)
    tab.token = visitor.token
    await tab.connect()
    assert tab.sock
    first = await visitor.say("from the first tab")
    assert first["message"]["body"] == "from the first tab"
    echo = await tab.sock.expect("message", seq=first["seq"])
    assert echo["body"] == "from the first tab"
    second = await tab.say("from the second tab")
    await visitor.sock.expect("message", seq=second["seq"])
    # Redis delivers in the order it published: an echo of the first would have come before.
    echoed = [f["seq"] for f in visitor.sock.seen if f["type"] == "message"]
    assert first["seq"] not in echoed and echoed[-1] == second["seq"]
