"""Starts of one contact's conversation racing on two nodes (one PostgreSQL, one Redis),
held open until both nodes are inserting the conversation (``_raced``: the store's
one-live index, migration 0018, refuses the second). A visitor's start that loses joins
the other node's conversation: that is not a new conversation, so it costs the
visitor's address nothing of the per-IP limit, and the name its visitor typed names a
contact that had none. Two agents texting one number at once: one conversation, the
other agent gets 409 conversation_open, and nothing of the refused start is stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devkit import services
from gateway.model.records import Contact, Conversation, Message
from gateway.ports.store.base import Store
from tests.channels.support import sms_touchpoint
from tests.cluster.conftest import Cluster
from tests.cluster.test_start_race_two_nodes import _live, _raced
from tests.cluster.test_two_nodes import wait_for_leader
from tests.gateway.client import AgentClient, Socket, Visitor
from tests.gateway.conftest import ADMIN, AGENT, seed
from tests.integration.conftest import Node
from tests.security.test_limits import _bootstrap, _connect

ROUNDS = 4
LINE = "+14155550100"
# nothing reaches a provider in these tests: its API is never answered
NO_API = "http://127.0.0.1:9"


@pytest.fixture
async def two_nodes(postgres: services.Postgres) -> AsyncIterator[Cluster]:
    """Two nodes behind a trusted proxy (each round's visitor has an address of its
    own), at most two new conversations per address and hour, and an SMS line agents
    may text from."""
    url = services.createdb(postgres, f"starts_{uuid.uuid4().hex[:8]}")
    seed(url, touchpoints=[sms_touchpoint("tp_sms", LINE, NO_API, direction="both")])
    cluster = Cluster(
        postgres, url, services.start_redis(), f"http://127.0.0.1:{services.free_port()}"
    )
    cluster.extra_env = {
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "2",
        "GATEWAY_CONVERSATIONS_PER_TOUCHPOINT_PER_HOUR": "0",
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
    }
    try:
        cluster.start_node()
        cluster.start_node()
        await asyncio.to_thread(wait_for_leader, cluster)
        yield cluster
    finally:
        cluster.stop()


async def _tab(v: Visitor, ip: str) -> Socket:
    sock = await _connect(v, ip)
    await sock.expect("welcome")
    await sock.expect("token")
    return sock


async def _tabs(cluster: Cluster, ip: str) -> tuple[Visitor, list[Socket]]:
    """One new visitor from ``ip`` with a tab on each node."""
    a, b = cluster.nodes
    first = cluster.visitor(a)
    assert (await _bootstrap(first, ip)).status_code == 200
    second = Visitor(b, first.touchpoint_id, first.page_url, first.origin, token=first.token)
    return first, [await _tab(first, ip), await _tab(second, ip)]


async def _race(cluster: Cluster, socks: list[Socket], names: list[str]) -> str:
    """Each tab sends ``start`` (with its typed name, if any), both held until both
    nodes insert: the one conversation both are told of."""

    async def start(sock: Socket, name: str) -> dict[str, Any]:
        await sock.send({"type": "start", "fields": {"name": name} if name else {}})
        return await sock.expect_any(("started", "error"), timeout=30)

    started = await _raced(cluster, *(start(s, n) for s, n in zip(socks, names, strict=True)))
    for frame in started:
        assert isinstance(frame, dict) and frame["type"] == "started", started
    [cid] = {f["conversation_id"] for f in started if isinstance(f, dict)}
    for s in socks:
        await s.close()
    return str(cid)


async def _start_new(cluster: Cluster, node: int, ip: str) -> dict[str, Any]:
    """Another visitor from ``ip`` starts a conversation: ``started``, or the error."""
    v = cluster.visitor(cluster.nodes[node])
    assert (await _bootstrap(v, ip)).status_code == 200
    sock = await _tab(v, ip)
    await sock.send({"type": "start", "fields": {}})
    answer = await sock.expect_any(("started", "error"))
    await sock.close()
    return answer


async def _contact_count(store: Store) -> int:
    async with store._connection() as c:  # type: ignore[attr-defined]
        row = await c.fetchrow("SELECT count(*) FROM contacts")
        return int(row[0])


async def test_a_start_that_joins_another_nodes_conversation_is_not_counted(
    two_nodes: Cluster,
) -> None:
    """Racing starts of one visitor, round after round, each from an address of its own:
    the address has made one conversation, so a second one is still allowed, and then
    the limit (2) holds."""
    for i in range(ROUNDS):
        ip = f"198.51.100.{i + 1}"
        _, socks = await _tabs(two_nodes, ip)
        await _race(two_nodes, socks, ["", ""])
        second = await _start_new(two_nodes, i % 2, ip)
        assert second["type"] == "started", (i, second)
        third = await _start_new(two_nodes, (i + 1) % 2, ip)
        assert third["type"] == "error" and third["code"] == "rate_limited", (i, third)


async def test_the_name_typed_in_the_losing_start_names_a_contact_without_one(
    two_nodes: Cluster,
) -> None:
    """One tab starts without a name, the other (on the other node) with one, at once:
    whichever wins, the visitor's contact has that name, and one contact is made."""
    node = Node(two_nodes.nodes[0], {}, two_nodes.database_url)
    before = node.with_store(_contact_count)
    for i in range(ROUNDS):
        first, socks = await _tabs(two_nodes, f"203.0.113.{i + 1}")
        name = f"Lin {i}"
        cid = await _race(two_nodes, socks, ["", name] if i % 2 else [name, ""])

        async def contact(store: Store, vid: str = first.visitor_id) -> Contact | None:
            return await store.find_contact_by_address("chat", vid)

        found = node.with_store(contact)
        assert found is not None and found.name == name, (i, found)
        assert [r[0] for r in await _live(two_nodes, first.touchpoint_id, first.visitor_id)] == [
            cid
        ]
        assert (await _conversation(node, cid)).contact_id == found.id
    # no contact left over by a start whose contact was rolled back
    assert node.with_store(_contact_count) - before == ROUNDS


async def _conversation(node: Node, cid: str) -> Conversation:
    async def get(store: Store) -> Conversation:
        return await store.get_conversation(cid)

    return node.with_store(get)


async def test_two_agents_texting_one_number_at_once_make_one_conversation(
    two_nodes: Cluster,
) -> None:
    """Round after round, an agent on each node starts an SMS conversation with the same
    new number, held until both nodes insert: one is made, the winner's, with their
    message; the other agent is answered 409 conversation_open; no second contact, no
    message of the refused start."""
    a, b = two_nodes.nodes
    agents = [two_nodes.agent(a, *AGENT), two_nodes.agent(b, *ADMIN)]
    for ag in agents:  # online, each on their node
        await ag.login()
        await ag.connect()
    node = Node(a, {}, two_nodes.database_url)
    before = node.with_store(_contact_count)
    phones = [f"+120255501{i:02d}" for i in range(ROUNDS)]
    async with httpx.AsyncClient(timeout=30) as http:

        async def start(agent: AgentClient, phone: str, i: int) -> httpx.Response:
            return await http.post(
                f"{agent.node.base_url}/api/conversations",
                json={
                    "touchpoint_id": "tp_sms",
                    "address": phone,
                    "client_msg_id": f"start-{i}-{agent.email}",
                    "body": f"Hello from {agent.email}",
                },
                headers={"Authorization": f"Bearer {agent.token}"},
            )

        for i, phone in enumerate(phones):
            raced = await _raced(two_nodes, *(start(ag, phone, i) for ag in agents))
            answers = [r for r in raced if isinstance(r, httpx.Response)]
            assert len(answers) == 2, raced
            codes = [r.status_code for r in answers]
            assert sorted(codes) == [201, 409], [r.text for r in answers]
            refused = answers[codes.index(409)].json()["error"]
            assert refused["code"] == "conversation_open", refused
            won = answers[codes.index(201)].json()
            winner = agents[codes.index(201)]

            async def stored(
                store: Store, phone: str = phone
            ) -> tuple[list[Conversation], Contact | None, list[Message]]:
                convs = await store.list_conversations(address=phone, touchpoint_id="tp_sms")
                contact = await store.find_contact_by_address("sms", phone)
                messages = [m for c in convs for m in await store.messages(c.id)]
                return convs, contact, messages

            convs, contact, messages = node.with_store(stored)
            [conv] = convs
            assert conv.id == won["conversation_id"] and conv.state == "assigned"
            assert contact is not None and conv.contact_id == contact.id
            assert [(m.sender, m.client_msg_id, m.body) for m in messages if m.kind == "text"] == [
                ("agent", f"start-{i}-{winner.email}", f"Hello from {winner.email}")
            ]
    # one contact per number: none left over by the refused starts
    assert node.with_store(_contact_count) - before == ROUNDS
    for ag in agents:
        assert ag.sock
        await ag.sock.close()
