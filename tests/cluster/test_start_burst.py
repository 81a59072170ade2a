"""A burst of conversations started at once on a follower (and on the leader): every
first message on the follower is forwarded to the router's leader, which answers them in
turn, after its own. The follower waits for a
leader whose log shows it at work (docs/scaling.md, "Forwarding"), so none of them is
refused as ``router_unavailable`` however long the queue, and every one is routed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.cluster.conftest import Cluster
from tests.cluster.test_first_message_race import _conversations
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import Visitor

BURST = 300


async def test_a_burst_of_starts_on_a_follower_is_routed_without_a_refusal(
    cluster: Cluster,
) -> None:
    cluster.extra_env = {
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
        "GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "0",
        # far less than the leader takes to route the whole burst: the wait must last
        # because the leader is at work, not because the timeout is long
        "GATEWAY_ROUTER_FORWARD_TIMEOUT": "1",
    }
    a = cluster.start_node()
    b = cluster.start_node()
    leader = b if await asyncio.to_thread(wait_for_leader, cluster) is b else a
    follower = b if leader is a else a
    # as many on the leader at the same moment: the forwarded events queue behind its own
    visitors = [cluster.visitor(node) for node in (follower, leader) for _ in range(BURST)]
    sem = asyncio.Semaphore(20)

    async def ready(v: Visitor) -> None:
        async with sem:
            await v.bootstrap()
            await v.connect()

    await asyncio.gather(*(ready(v) for v in visitors))
    ids = [uuid.uuid4().hex for _ in visitors]
    # all at once: each start's first message routes its conversation
    for v, cid in zip(visitors, ids, strict=True):
        assert v.sock
        await v.sock.send(
            {"type": "start", "fields": {"name": "Lin"}, "message": "Hello", "client_msg_id": cid}
        )

    async def answer(v: Visitor, cid: str) -> dict[str, Any]:
        assert v.sock
        return await v.sock.expect_any(("ack", "error"), timeout=120)

    answers = await asyncio.gather(*(answer(v, c) for v, c in zip(visitors, ids, strict=True)))
    refused = [f for f in answers if f["type"] == "error"]
    assert not refused, (len(refused), refused[:2])
    assert {f["client_msg_id"] for f in answers} == set(ids)
    stored = await asyncio.to_thread(_conversations, cluster)
    started = {f["conversation_id"] for f in answers}
    routed = {c.id for c in stored if c.state != "new"}
    assert len(started) == 2 * BURST and started <= routed
