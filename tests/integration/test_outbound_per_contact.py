"""One open outbound conversation per contact on an integration touchpoint, whatever
its interaction id (docs/integration-api.md, "inbound and outbound"; the reference's
FAQ 107). The API's address is the interaction id, so the store's one-live index (per
address) let a second interaction id start a second outbound conversation for the same
contact. A refused start stores nothing: no contact changed, no conversation, no
transcript, and its Idempotency-Key replays the refusal. Inbound starts keep one open
conversation per interaction id, several per contact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest

from devkit import services
from examples.gateway_client import ApiError, IntegrationClient, TranscriptLine
from examples.gateway_client import Conversation as Started
from gateway.model.records import LIVE_STATES, Contact, ContactAddress, Conversation
from gateway.ports.store.base import Store
from tests.cluster.conftest import Cluster
from tests.cluster.test_start_race_two_nodes import _raced
from tests.cluster.test_two_nodes import wait_for_leader
from tests.integration.conftest import Node, admin_client, client, integration
from tests.integration.receiver import Receiver

TP = "tp_out"
EMAIL = "lin@example.com"


async def _refused(start: Awaitable[Any]) -> ApiError:
    try:
        await start
    except ApiError as exc:
        return exc
    raise AssertionError("the start was not refused")


def _live_outbound(node: Node, tp_id: str = TP) -> list[Conversation]:
    return [
        c for c in node.conversations(tp_id) if c.state in LIVE_STATES and c.direction == "outbound"
    ]


def _contact_state(node: Node, address: str) -> tuple[Contact, list[ContactAddress]]:
    """The contact at ``address``, and the addresses it is reached at."""

    async def read(store: Store) -> tuple[Contact, list[ContactAddress]]:
        contact = await store.find_contact_by_address("api", address)
        assert contact is not None
        return contact, await store.contact_addresses(contact.id)

    return node.with_store(read)


def _linked(node: Node, address: str) -> Contact | None:
    return node.with_store(lambda store: store.find_contact_by_address("api", address))


async def _api(node: Node, receiver: Receiver) -> tuple[IntegrationClient, str]:
    async with await admin_client(node) as admin:
        key = await integration(admin, TP, receiver.url)
    return client(node, TP, key), key


async def test_a_second_outbound_start_for_the_contact_is_refused_with_nothing_stored(
    node: Node, receiver: Receiver
) -> None:
    api, key = await _api(node, receiver)
    async with api:
        first = await api.start_conversation(
            EMAIL, name="Lin", direction="outbound", interaction_id="x1"
        )
        assert (first.direction, first.interaction_id) == ("outbound", "x1")
        before = _contact_state(node, "x1")
        # another interaction id, the email in another case, another name, a transcript
        body = {
            "contact": {"email": "LIN@Example.com", "name": "Lina"},
            "direction": "outbound",
            "interaction_id": "x2",
            "transcript": [{"sender": "bot", "text": "Shall I call an agent?"}],
        }
        url = f"{node.base_url}/api/integrations/{TP}/conversations"
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "second-start"}
        async with httpx.AsyncClient(timeout=10) as http:
            second = await http.post(url, json=body, headers=headers)
            replay = await http.post(url, json=body, headers=headers)
        assert second.status_code == 409, second.text
        assert second.json()["error"]["code"] == "conversation_open"
        # the key keeps the refusal, never a success
        assert (replay.status_code, replay.json()) == (409, second.json())
        assert replay.headers["idempotent-replayed"] == "true"
        # nothing stored: one conversation, the contact as it was, x2 linked to no one
        assert [c.id for c in node.conversations(TP)] == [first.id]
        assert _contact_state(node, "x1") == before
        assert _linked(node, "x2") is None
        # as before: the same interaction id, or none (the email), is refused too
        for interaction_id in ("x1", None):
            refused = await _refused(
                api.start_conversation(
                    EMAIL, name="Lin", direction="outbound", interaction_id=interaction_id
                )
            )
            assert (refused.status, refused.code) == (409, "conversation_open")
        assert [c.id for c in node.conversations(TP)] == [first.id]
        assert _contact_state(node, "x1") == before
        # another contact is not held back by this one
        other = await api.start_conversation(
            "kim@example.com", direction="outbound", interaction_id="x3"
        )
        assert {c.id for c in _live_outbound(node)} == {first.id, other.id}


async def test_after_the_outbound_conversation_ends_a_new_one_may_start(
    node: Node, receiver: Receiver
) -> None:
    api, _ = await _api(node, receiver)
    async with api:
        first = await api.start_conversation(EMAIL, direction="outbound", interaction_id="x1")
        refused = await _refused(
            api.start_conversation(EMAIL, direction="outbound", interaction_id="x2")
        )
        assert (refused.status, refused.code) == (409, "conversation_open")
        closed = await api.close(first.id)
        assert closed.state == "closed"
        again = await api.start_conversation(EMAIL, direction="outbound", interaction_id="x2")
        assert again.id != first.id and again.interaction_id == "x2"
        # the new one holds the contact now
        refused = await _refused(
            api.start_conversation(EMAIL, direction="outbound", interaction_id="x3")
        )
        assert (refused.status, refused.code) == (409, "conversation_open")
        assert [c.id for c in _live_outbound(node)] == [again.id]


async def test_inbound_starts_keep_one_conversation_per_interaction_id(
    node: Node, receiver: Receiver
) -> None:
    """Inbound as before: two interaction ids, two open conversations of the contact;
    the same one again gives its conversation back. They do not count for outbound."""
    api, _ = await _api(node, receiver)
    async with api:
        a = await api.start_conversation(EMAIL, interaction_id="in-1", message="one")
        b = await api.start_conversation(EMAIL, interaction_id="in-2", message="two")
        assert a.id != b.id and a.contact.id == b.contact.id
        again = await api.start_conversation(EMAIL, interaction_id="in-1", message="three")
        assert again.id == a.id
        out = await api.start_conversation(EMAIL, direction="outbound", interaction_id="out-1")
        assert out.contact.id == a.contact.id
        refused = await _refused(
            api.start_conversation(EMAIL, direction="outbound", interaction_id="out-2")
        )
        assert (refused.status, refused.code) == (409, "conversation_open")
        # an inbound start with a new interaction id is still a conversation of its own
        c = await api.start_conversation(EMAIL, interaction_id="in-3", message="four")
        assert c.id not in (a.id, b.id, out.id) and c.direction == "inbound"
        live = [x for x in node.conversations(TP) if x.state in LIVE_STATES]
        assert sorted((x.address, x.direction) for x in live) == [
            ("in-1", "inbound"),
            ("in-2", "inbound"),
            ("in-3", "inbound"),
            ("out-1", "outbound"),
        ]


async def test_outbound_starts_at_once_on_one_node_make_one(node: Node, receiver: Receiver) -> None:
    api, _ = await _api(node, receiver)
    async with api:
        answers = await asyncio.gather(
            *(
                api.start_conversation(
                    EMAIL, name="Lin", direction="outbound", interaction_id=f"x{i}"
                )
                for i in range(6)
            ),
            return_exceptions=True,
        )
    made = [a for a in answers if isinstance(a, Started)]
    refused = [a for a in answers if isinstance(a, ApiError)]
    assert len(made) == 1 and len(refused) == 5, answers
    assert {(r.status, r.code) for r in refused} == {(409, "conversation_open")}
    assert [c.id for c in node.conversations(TP)] == [made[0].id]
    # the refused starts linked no interaction id to the contact
    _, addresses = _contact_state(node, made[0].interaction_id)
    assert [a.address for a in addresses] == [made[0].interaction_id]


# -- two nodes, one PostgreSQL ----------------------------------------------------------


@pytest.fixture
async def two_nodes(postgres: services.Postgres) -> AsyncIterator[Cluster]:
    url = services.createdb(postgres, f"outbound_{uuid.uuid4().hex[:8]}")
    cluster = Cluster(
        postgres, url, services.start_redis(), f"http://127.0.0.1:{services.free_port()}"
    )
    cluster.extra_env = {"GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0"}
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_outbound_starts_on_two_nodes_for_one_contact_make_one(
    two_nodes: Cluster, receiver: Receiver
) -> None:
    """Both nodes find no outbound conversation of the contact and go on to insert one
    at another interaction id (another address: the one-live index lets both in); the
    store's lock of the contact's outbound starts lets the second see the first."""
    a = two_nodes.start_node()
    # the integration before the second node starts: both know it from the start
    async with await admin_client(Node(a, {}, two_nodes.database_url)) as admin:
        key = await integration(admin, TP, receiver.url)
    b = two_nodes.start_node()
    await asyncio.to_thread(wait_for_leader, two_nodes)
    apis = [client(Node(n, {}, two_nodes.database_url), TP, key) for n in (a, b)]
    node = Node(a, {}, two_nodes.database_url)
    async with apis[0], apis[1]:
        # the contact exists and is saved with this name: the race changes no contact row
        done = await apis[0].start_conversation(EMAIL, name="Lin", direction="outbound")
        await apis[0].close(done.id)
        for round_ in range(3):
            raced = await _raced(
                two_nodes,
                *(
                    api.start_conversation(
                        EMAIL,
                        name="Lin",
                        direction="outbound",
                        interaction_id=f"r{round_}-{i}",
                        transcript=[TranscriptLine("bot", f"from node {i}")],
                    )
                    for i, api in enumerate(apis)
                ),
            )
            made = [r for r in raced if isinstance(r, Started)]
            refused = [r for r in raced if isinstance(r, ApiError)]
            assert len(made) == 1 and len(refused) == 1, raced
            assert (refused[0].status, refused[0].code) == (409, "conversation_open")
            assert [c.id for c in _live_outbound(node)] == [made[0].id]
            await apis[0].close(made[0].id)
