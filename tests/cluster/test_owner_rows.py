"""The owner's node is sent the conversation as the router's assignment left it
(gateway/services/recent.py): the owner's first reply on a node other than the
leader's is written on that row, without a read of the store."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from devkit import services
from tests.cluster.conftest import Cluster
from tests.cluster.test_two_nodes import wait_for_leader


def _misses(node: services.GatewayProcess) -> float:
    """The node's ``gateway_recent_row_misses_total``: writes that read their row first."""
    with urllib.request.urlopen(node.base_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "gateway_recent_row_misses":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("gateway_recent_row_misses_total is not on /metrics")


async def test_the_owners_first_reply_on_another_node_is_written_without_a_read(
    cluster: Cluster,
) -> None:
    a = cluster.start_node()
    b = cluster.start_node()
    leader = await asyncio.to_thread(wait_for_leader, cluster)
    assert isinstance(leader, services.GatewayProcess)
    follower = b if leader is a else a
    agent, visitor, cid = await cluster.offered_chat(follower, leader)
    assert agent.sock and visitor.sock
    accepted = await agent.act("accept", cid)
    assert accepted["type"] == "ok", accepted
    # the row of the assignment in the agent's lists: the node had the row before it
    while True:
        row = (await agent.sock.expect("conversation"))["conversation"]
        if row["conversation_id"] == cid and row["place"] == "assigned":
            break
    before = await asyncio.to_thread(_misses, follower)
    ack = await agent.say(cid, "hello, how can I help?")
    assert ack["type"] == "ack", ack
    reply = await visitor.sock.expect("message", sender="agent")
    assert reply["body"] == "hello, how can I help?"
    assert await asyncio.to_thread(_misses, follower) == before
