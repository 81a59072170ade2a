"""The router leader's lease lapsing while Redis does not answer: what the leader node's
own clients are told meanwhile."""

from __future__ import annotations

import os
import signal
import uuid

from tests.cluster.conftest import Cluster
from tests.cluster.test_faults import two_nodes
from tests.gateway.client import accepted_chat
from tests.poll import until


async def test_an_agent_on_a_leader_whose_lease_lapsed_still_replies_in_their_conversation(
    cluster: Cluster,
) -> None:
    leader, follower = two_nodes(cluster)
    # on the leader node: its start-up replica never saw this conversation
    agent, visitor = cluster.agent(leader), cluster.visitor(follower)
    cid = await accepted_chat(agent, visitor, name="Noor")
    assert agent.sock
    redis = cluster.redis.proc.pid
    os.kill(redis, signal.SIGSTOP)
    try:
        # The stopped Redis answers no renewal: the node stops acting as leader by its
        # clock (80% of the lease), and is deposed at its next renewal given up on (each
        # is bounded, cluster/lease.py); its router, which has the conversation, becomes
        # its replica then. Before and after, the agent is answered.
        await until(
            lambda: not cluster.readiness(leader)["router_leader"],
            what="the leader seeing its lease lapse",
            every=0.1,
        )
        for _ in range(3):
            client_id = uuid.uuid4().hex
            await agent.sock.send(
                {
                    "type": "send",
                    "conversation_id": cid,
                    "body": "still here",
                    "client_msg_id": client_id,
                }
            )
            answer = await agent.sock.expect_any(("ack", "error"), timeout=60)
            # acknowledged (stored), or at worst "try again"; never "no such conversation"
            assert answer["type"] == "ack" or (
                answer["code"] == "router_unavailable" and answer["retryable"] is True
            ), answer
        assert not cluster.readiness(leader)["router_leader"], "Redis answered meanwhile"
    finally:
        os.kill(redis, signal.SIGCONT)
