"""Two tabs of one visitor, on two nodes (one Redis, one PostgreSQL), write the first
messages of a ``new`` conversation at the same instant, so that one node's append and
the other's routing of the conversation overlap: a real webhook receiver gets each
message's ``message.created`` exactly once, after the conversation's
``conversation.started``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.cluster.conftest import Cluster
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import Visitor
from tests.integration.conftest import HOOK_SECRET, Node, admin_client
from tests.integration.receiver import Receiver
from tests.integration.test_automations import webhook

ROUNDS = 12


async def both_write_at_once(tabs: tuple[Visitor, Visitor], cid: str) -> set[int]:
    """Each tab sends a message at the same moment; the seqs they were stored with."""
    frames = [
        {
            "type": "send",
            "conversation_id": cid,
            "body": f"tab {i} " + uuid.uuid4().hex[:6],
            "client_msg_id": uuid.uuid4().hex,
        }
        for i in range(2)
    ]
    socks = [t.sock for t in tabs]
    assert socks[0] and socks[1]
    await asyncio.gather(*(s.send(f) for s, f in zip(socks, frames, strict=True)))
    acks = await asyncio.gather(
        *(
            s.expect("ack", client_msg_id=f["client_msg_id"])
            for s, f in zip(socks, frames, strict=True)
        )
    )
    assert {a["conversation_id"] for a in acks} == {cid}
    assert acks[0]["seq"] != acks[1]["seq"]
    return {a["seq"] for a in acks}


async def test_first_messages_written_on_two_nodes_are_each_announced_once(
    cluster: Cluster,
) -> None:
    cluster.extra_env = {"GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0"}
    hooks = Receiver(HOOK_SECRET)
    await hooks.start()
    try:
        a = cluster.start_node()
        # the automation before the second node starts: both know it from the start
        async with await admin_client(Node(a, {}, cluster.database_url)) as admin:
            await webhook(
                admin, "wh_race", hooks.url, events=["conversation.started", "message.created"]
            )
        b = cluster.start_node()
        await asyncio.to_thread(wait_for_leader, cluster)
        written: dict[str, set[int]] = {}
        for _ in range(ROUNDS):
            first = cluster.visitor(a)
            await first.bootstrap()
            second = Visitor(b, first.touchpoint_id, first.page_url, first.origin)
            second.token = first.token  # the same visitor, in a tab served by the other node
            await first.connect()
            await second.connect()
            try:
                # new until its first message routes it
                cid = await first.start(first=None, name="Lin")
                written[cid] = await both_write_at_once((first, second), cid)
            finally:
                assert first.sock and second.sock
                await first.sock.close()
                await second.sock.close()
        routed = await asyncio.to_thread(_conversations, cluster)
        assert {c.id for c in routed if c.state != "new"} == set(written)

        def contact_messages(r: Receiver) -> list[tuple[str, int]]:
            return [
                (e.message["conversation_id"], e.message["seq"])
                for e in r.of_type("message.created")
                if e.message and e.message["sender"] == "contact"
            ]

        await hooks.wait_for(
            lambda r: (
                len(contact_messages(r)) >= 2 * ROUNDS
                and len(r.of_type("conversation.started")) >= ROUNDS
            ),
            what=f"{2 * ROUNDS} contact messages and {ROUNDS} starts announced",
            timeout=120,
        )
        announced = contact_messages(hooks)
        assert sorted(announced) == sorted(set(announced))  # none twice
        assert set(announced) == {(c, s) for c, seqs in written.items() for s in seqs}
        # each conversation's start first (a target gets a conversation's events in order)
        seen: dict[str, list[str]] = {}
        for e in hooks.events:
            what = e.type if e.message is None else str(e.message["seq"])
            seen.setdefault(e.conversation["id"], []).append(what)
        for cid in written:
            assert seen[cid][0] == "conversation.started", seen[cid]
    finally:
        await hooks.stop()


def _conversations(cluster: Cluster) -> list[Any]:
    return Node(cluster.nodes[0], {}, cluster.database_url).conversations("tp_demo_127")
