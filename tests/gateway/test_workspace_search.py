"""Finding and keeping contacts through the services and a real gateway: one saved
contact per email when two agents save at once, one contact for a signed identity
arriving twice at once, and a deleted contact's conversations leave the agents' lists
at once. The store's side (search folding, the unique index, the migration):
tests/store/test_contact_search.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from devkit import services
from gateway.auth import Identity
from gateway.errors import ContactExists
from gateway.ports.store.postgres import PostgresStore
from gateway.services.contacts import ContactService
from tests.gateway.client import AgentClient, accepted_chat
from tests.gateway.conftest import ADMIN, demo_agent, demo_visitor
from tests.gateway.test_workspace import admin_away, http


@pytest.fixture
async def pg_store(postgres: services.Postgres) -> AsyncIterator[PostgresStore]:
    """An open store on a fresh PostgreSQL database (several connections: races)."""
    store = PostgresStore(
        services.createdb(postgres, f"wsearch_{uuid.uuid4().hex[:8]}"), max_size=10
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_two_agents_saving_one_email_at_once_get_one_contact(
    pg_store: PostgresStore,
) -> None:
    """Two agents save the same email on two contacts at the same instant, on
    PostgreSQL: one is saved, the other gets what a save after it gets, 409
    contact_exists naming the saved contact."""
    contacts = ContactService(pg_store, time.time)
    for round_ in range(5):
        email = f"race{round_}@example.com"
        ids = [f"ct_r{round_}_{i}" for i in range(2)]
        for i in ids:
            await pg_store.create_contact(i, name=i, now=time.time())
        results = await asyncio.gather(
            *(contacts.save(i, name=i, email=email, phone="") for i in ids),
            return_exceptions=True,
        )
        saved = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(saved) == 1 and len(refused) == 1, results
        assert isinstance(refused[0], ContactExists), refused
        assert refused[0].contact_id == saved[0].id
        assert "already has this email: merge into that contact" in refused[0].message


async def test_one_signed_identity_arriving_twice_at_once_is_one_contact(
    pg_store: PostgresStore,
) -> None:
    """A site signs one new email for two visitors whose chats start at the same
    instant, on PostgreSQL: both are the one saved contact (the second save, turned
    away by the unique index, finds the first), never two, never an error."""
    contacts = ContactService(pg_store, time.time)
    for round_ in range(5):
        who = Identity(email=f"Signed{round_}@example.com", name="Signed")
        found = await asyncio.gather(
            *(contacts.for_conversation("chat", f"v-{round_}-{i}", {}, who) for i in range(2))
        )
        assert found[0].id == found[1].id, found
        for i in range(2):
            at = await pg_store.find_contact_by_address("chat", f"v-{round_}-{i}")
            assert at is not None and at.id == found[0].id


# -- a deleted contact's conversations ---------------------------------------------------


async def _contact_of(node: services.GatewayProcess, admin: AgentClient, cid: str) -> str:
    with http(node, admin) as c:
        r = c.get(f"/api/admin/conversations/{cid}")
        assert r.status_code == 200, r.text
        contact_id: str = r.json()["contact_id"]
    return contact_id


async def _delete(node: services.GatewayProcess, admin: AgentClient, contact_id: str) -> None:
    with http(node, admin) as c:
        r = c.delete(f"/api/admin/contacts/{contact_id}", params={"force": "true"})
        assert r.status_code == 200, r.text


async def _gone(agent: AgentClient, cid: str) -> None:
    """A row of ``cid`` comes, saying it left the agent's list."""
    assert agent.sock
    while True:
        row = (await agent.sock.expect("conversation", timeout=15))["conversation"]
        if row["conversation_id"] == cid and row["place"] == "gone":
            return


async def test_a_deleted_contacts_conversations_leave_the_agents_lists(
    gateway: services.GatewayProcess,
) -> None:
    """Regression: deleting a contact (right to be forgotten, force=true) rebuilt the
    router and sent the Live view again, but the agents' own lists kept its
    conversations (an Assigned one, an Inbox row) until their console reconnected."""
    admin = await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Assigned One")
    await _delete(gateway, admin, await _contact_of(gateway, admin, cid))
    await _gone(agent, cid)
    # A conversation waiting in the Inbox (nobody available): every agent who shows it
    # (the demo agent of its queue, the admin who sees every queue) loses the row.
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "away"})
    await agent.sock.expect("ok", ref="away")
    waiting = demo_visitor(gateway)
    await waiting.bootstrap()
    await waiting.connect()
    cid2 = await waiting.start(name="Inbox One")
    for who in (agent, admin):
        assert who.sock
        while True:
            row = (await who.sock.expect("conversation", timeout=15))["conversation"]
            if row["conversation_id"] == cid2 and row["place"] == "inbox":
                break
    await _delete(gateway, admin, await _contact_of(gateway, admin, cid2))
    await _gone(agent, cid2)
    await _gone(admin, cid2)
    # A console that connects now does not list them either.
    again = AgentClient(gateway, *ADMIN)
    await again.login()
    snapshot = await again.connect()
    listed = {r["conversation_id"] for r in snapshot["inbox"] + snapshot["assigned"]}
    assert not listed & {cid, cid2}
