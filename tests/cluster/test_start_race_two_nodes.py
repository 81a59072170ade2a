"""Two nodes starting a conversation for the same contact at the same moment make one
(docs/scaling.md, "Two nodes starting for the same contact"): the store's one-live
index refuses the second insert, and the node that lost carries on with the winner's
conversation as if it had found it. Both nodes found no contact for the new address
and created one: the one that linked the address first is the conversation's, the
other's is rolled back (no orphan contact, no split history). The race is held open by
the test: a lock on the conversations table (reads pass, inserts wait) until both nodes
are waiting to insert, then both go at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg

from examples.gateway_client import ApiError, IntegrationClient
from tests.cluster.conftest import Cluster
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import Visitor
from tests.integration.conftest import Node, admin_client, client, integration
from tests.integration.receiver import Receiver

T = TypeVar("T")

# the nodes' inserts of a conversation, waiting for the test's lock
_WAITING = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.relation = 'conversations'::regclass AND NOT l.granted"
    " AND a.query LIKE 'INSERT INTO conversations%'"
)


async def _watch(cluster: Cluster, n: int) -> None:
    watcher = await asyncpg.connect(cluster.database_url)
    try:
        deadline = time.monotonic() + 30
        while await watcher.fetchval(_WAITING) < n:
            assert time.monotonic() < deadline, "the nodes never tried to insert"
            await asyncio.sleep(0.02)
    finally:
        await watcher.close()


async def _live(cluster: Cluster, tp_id: str, address: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(cluster.database_url)
    try:
        return await conn.fetch(
            "SELECT id FROM conversations WHERE touchpoint_id = $1 AND address = $2"
            " AND state NOT IN ('wrapup', 'closed')",
            tp_id,
            address,
        )
    finally:
        await conn.close()


async def _messages(cluster: Cluster, cid: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(cluster.database_url)
    try:
        rows = await conn.fetch(
            "SELECT client_msg_id, body FROM messages"
            " WHERE conversation_id = $1 AND sender = 'contact' ORDER BY seq",
            cid,
        )
        return [(r[0], r[1]) for r in rows]
    finally:
        await conn.close()


async def _one_contact(cluster: Cluster, conv_id: str, address: str, name: str) -> None:
    """The conversation's contact is the only one the race made, and the address's."""
    conn = await asyncpg.connect(cluster.database_url)
    try:
        owner = await conn.fetchval("SELECT contact_id FROM conversations WHERE id = $1", conv_id)
        named = await conn.fetch("SELECT id FROM contacts WHERE name = $1", name)
        linked = await conn.fetch(
            "SELECT contact_id FROM contact_addresses WHERE address = $1", address
        )
    finally:
        await conn.close()
    assert [r[0] for r in named] == [owner], (owner, named)
    assert [r[0] for r in linked] == [owner], (owner, linked)


async def _raced(cluster: Cluster, *starts: Awaitable[T]) -> list[T | BaseException]:
    """Each start, run while inserts are held, then all let go at once."""
    conn = await asyncpg.connect(cluster.database_url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE conversations IN SHARE MODE")
            tasks = [asyncio.ensure_future(s) for s in starts]
            watching = asyncio.ensure_future(_watch(cluster, len(starts)))
            done, _ = await asyncio.wait([watching, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if watching not in done:
                watching.cancel()
                # a start that did not wait for the lock: not the race this test is about
                raise AssertionError([t.result() if not t.exception() else t.exception()
                                      for t in tasks if t.done()])  # fmt: skip
            watching.result()
        # the lock is gone: both inserts go at once
        return list(await asyncio.gather(*tasks, return_exceptions=True))
    finally:
        await conn.close()


async def _two_nodes(cluster: Cluster) -> tuple[Any, Any]:
    cluster.extra_env = {"GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0"}
    a = cluster.start_node()
    b = cluster.start_node()
    await asyncio.to_thread(wait_for_leader, cluster)
    return a, b


async def test_a_visitors_start_retried_on_another_node_makes_one_conversation(
    cluster: Cluster,
) -> None:
    a, b = await _two_nodes(cluster)
    first = cluster.visitor(a)
    await first.bootstrap()
    second = Visitor(b, first.touchpoint_id, first.page_url, first.origin)
    second.token = first.token  # the same visitor, its start sent again through node b
    await first.connect()
    await second.connect()
    cid = uuid.uuid4().hex
    frame = {"type": "start", "fields": {"name": "Lin"}, "message": "Hello", "client_msg_id": cid}

    async def start(tab: Visitor) -> dict[str, Any]:
        assert tab.sock
        await tab.sock.send(frame)
        return await tab.sock.expect_any(("ack", "error"), timeout=30)

    answers = await _raced(cluster, start(first), start(second))
    for answer in answers:
        assert isinstance(answer, dict) and answer["type"] == "ack", answers
    acks: list[dict[str, Any]] = answers  # type: ignore[assignment]
    # both tabs are in the one conversation, and the message is in it once
    assert acks[0]["conversation_id"] == acks[1]["conversation_id"], acks
    assert acks[0]["seq"] == acks[1]["seq"]
    conv_id = acks[0]["conversation_id"]
    visitor_id = first.visitor_id
    assert [r[0] for r in await _live(cluster, "tp_demo_127", visitor_id)] == [conv_id]
    assert await _messages(cluster, conv_id) == [(cid, "Hello")]
    await _one_contact(cluster, conv_id, visitor_id, "Lin")
    # the tab whose start lost writes on in the winner's conversation
    assert second.sock
    await second.sock.send(
        {"type": "send", "conversation_id": conv_id, "body": "still me", "client_msg_id": "m2"}
    )
    await second.sock.expect("ack", client_msg_id="m2")


async def test_integration_starts_on_two_nodes_make_one_conversation(cluster: Cluster) -> None:
    hooks = Receiver("unused")
    await hooks.start()
    try:
        cluster.extra_env = {"GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0"}
        a = cluster.start_node()
        # the integration before the second node starts: both know it from the start
        async with await admin_client(Node(a, {}, cluster.database_url)) as admin:
            key = await integration(admin, "tp_race", hooks.url)
        b = cluster.start_node()
        await asyncio.to_thread(wait_for_leader, cluster)
        apis: list[IntegrationClient] = [
            client(Node(n, {}, cluster.database_url), "tp_race", key) for n in (a, b)
        ]
        async with apis[0], apis[1]:
            # inbound, each call with its own message: one conversation holds both
            inbound = await _raced(
                cluster,
                *(
                    api.start_conversation("lin@example.com", name="Lin", message=f"from {i}")
                    for i, api in enumerate(apis)
                ),
            )
            assert not [r for r in inbound if isinstance(r, BaseException)], inbound
            ids = {r.id for r in inbound if not isinstance(r, BaseException)}
            assert len(ids) == 1, inbound
            [conv_id] = ids
            assert [r[0] for r in await _live(cluster, "tp_race", "lin@example.com")] == [conv_id]
            assert sorted(b for _, b in await _messages(cluster, conv_id)) == ["from 0", "from 1"]
            await _one_contact(cluster, conv_id, "lin@example.com", "Lin")
            # outbound: one is made, the other is told the contact has an open one, as
            # on one node (409 conversation_open)
            outbound = await _raced(
                cluster,
                *(
                    api.start_conversation("kim@example.com", name="Kim", direction="outbound")
                    for api in apis
                ),
            )
            refused = [r for r in outbound if isinstance(r, BaseException)]
            made = [r for r in outbound if not isinstance(r, BaseException)]
            assert len(made) == 1 and len(refused) == 1, outbound
            assert isinstance(refused[0], ApiError), refused
            assert (refused[0].status, refused[0].code) == (409, "conversation_open")
            assert [r[0] for r in await _live(cluster, "tp_race", "kim@example.com")] == [
                made[0].id
            ]
    finally:
        await hooks.stop()
