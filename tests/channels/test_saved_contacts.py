"""A new address the provider vouches for joins the saved contact with that phone or
email (FAQ 24: a known contact's name on the conversation), through a real gateway: an
SMS over the Twilio emulator, an email through the demo mailbox; a phone two saved
contacts share names neither; an address already linked keeps its contact; two first
messages at once end on one contact (PostgreSQL, the services). Docs: docs/console.md,
"Contact card"."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from gateway.model.channels import ChannelName
from gateway.model.records import Contact
from gateway.ports.store.postgres import PostgresStore
from gateway.services.contacts import ContactService
from tests.channels.support import inbox_conversation, on_store, sms_touchpoint
from tests.channels.test_sms import NUMBER, configure
from tests.gateway.client import AgentClient, accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor, seed
from tests.gateway.test_workspace import admin_away, ended, http

Factory = Callable[..., services.GatewayProcess]

PHONE = "+12025550143"  # Dana's, saved on the card
SHARED = "+12025550188"  # saved on two contacts
ONLY = "+12025550199"  # saved on one
LINKED = "+12025550177"  # wrote before its saved contact was made
EMAIL = "dana@example.com"


async def _line(
    factory: Factory, twilio: EmulatorClient, extra: Callable[[Any], Any] | None = None
) -> services.GatewayProcess:
    """A demo gateway (chat, the demo mailbox) with an SMS touchpoint on the emulator."""

    def setup(url: str, port: int) -> None:
        seed(url, touchpoints=[sms_touchpoint("tp_sms", NUMBER, twilio.base_url)])
        if extra is not None:
            on_store(url, extra)

    node = factory(setup=setup)
    await configure(twilio, node, tp_sms=NUMBER)
    return node


async def _saved_dana(node: services.GatewayProcess, agent: AgentClient) -> str:
    """A chat whose contact the agent saves on the card as Dana Scully, with her phone
    and email; the chat ends. Her contact's id."""
    cid = await accepted_chat(agent, demo_visitor(node), name="Dee")
    with http(node, agent) as c:
        saved = c.put(
            f"/api/console/conversations/{cid}/contact",
            json={"name": "Dana Scully", "phone": "+1 202 555 0143", "email": EMAIL},
        )
        assert saved.status_code == 200, saved.text
        contact = saved.json()["contact"]
    assert contact["phone"] == PHONE and contact["saved"]
    await ended(agent, cid)
    return str(contact["id"])


async def _card(node: services.GatewayProcess, agent: AgentClient, cid: str) -> dict[str, Any]:
    assert (await agent.act("assign", cid))["type"] == "ok"
    with http(node, agent) as c:
        r = c.get(f"/api/console/conversations/{cid}/card")
    assert r.status_code == 200, r.text
    card: dict[str, Any] = r.json()
    return card


async def test_an_sms_from_a_saved_contacts_phone_is_that_contact(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """Regression: a text from the phone of a saved contact, from a number the gateway
    had not seen, made a new unsaved contact shown by the number."""
    node = await _line(gateway_factory, twilio)
    await admin_away(node)
    agent = demo_agent(node)
    known = await _saved_dana(node, agent)

    await twilio.phone_send(to=NUMBER, body="It is Dana", **{"from": PHONE})
    row = await inbox_conversation(agent, "sms", last_message="It is Dana")
    assert row["contact_name"] == "Dana Scully"
    card = await _card(node, agent, row["conversation_id"])
    assert card["contact"]["id"] == known and card["contact"]["name"] == "Dana Scully"
    assert card["contact"]["saved"] is True
    assert ("sms", PHONE) in {(a["channel"], a["address"]) for a in card["addresses"]}


async def test_an_email_from_a_saved_contacts_email_is_that_contact(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """Regression: an email from a saved contact's email (any case), new to the
    gateway, made a new unsaved contact named by the sender's display name."""
    node = await _line(gateway_factory, twilio)
    await admin_away(node)
    agent = demo_agent(node)
    known = await _saved_dana(node, agent)

    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as client:
        r = await client.post(
            "/demo/email/messages",
            json={"from": "Dana@Example.com", "name": "D.", "subject": "Invoice",
                  "text": "Where is my invoice?"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    row = await inbox_conversation(agent, "email")
    # the saved name, not the sender's display name
    assert row["contact_name"] == "Dana Scully"
    card = await _card(node, agent, row["conversation_id"])
    assert card["contact"]["id"] == known and card["contact"]["name"] == "Dana Scully"

    # Regression: her next conversation, the address known now, renamed the saved
    # contact to the sender's display name ("D."): the agents' record keeps its name
    first = str(row["conversation_id"])
    await ended(agent, first)  # assigned by _card
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as client:
        r = await client.post(
            "/demo/email/messages",
            json={"from": "dana@example.com", "name": "D.", "subject": "Another thing",
                  "text": "And my refund?"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    again = await inbox_conversation(agent, "email", place="inbox")
    while again["conversation_id"] == first:  # the first one's rows as it ends
        again = await inbox_conversation(agent, "email", place="inbox")
    assert again["contact_name"] == "Dana Scully"
    card = await _card(node, agent, again["conversation_id"])
    assert card["contact"]["id"] == known and card["contact"]["name"] == "Dana Scully"


async def _two_with_one_phone(store: Any) -> None:
    """Two saved contacts with one phone (the card refuses a second one; made before
    that rule, or by two agents saving at the same instant), one saved contact with
    another, and an address linked to an unsaved contact before a saved one had it."""
    now = time.time()
    await store.create_contact("ct_ann", name="Ann", phone=SHARED, now=now, saved=True)
    await store.create_contact("ct_bea", name="Bea", phone=SHARED, now=now, saved=True)
    await store.create_contact("ct_cy", name="Cy", phone=ONLY, now=now, saved=True)
    await store.create_contact(
        "ct_early", name="Early Bird", phone=LINKED, now=now, address=("sms", LINKED)
    )
    await store.create_contact("ct_lee", name="Lee", phone=LINKED, now=now, saved=True)


async def test_a_phone_two_saved_contacts_share_is_a_new_contact(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """A phone saved on two contacts names neither (which one writes is the agent's
    call): a new contact, shown by the number, as before. A phone saved on one is that
    one; an address linked before keeps its contact (no linked address moves)."""
    node = await _line(gateway_factory, twilio, _two_with_one_phone)
    await admin_away(node)
    agent = demo_agent(node)
    await agent.login()
    await agent.connect()

    await twilio.phone_send(to=NUMBER, body="Shared here", **{"from": SHARED})
    row = await inbox_conversation(agent, "sms", last_message="Shared here")
    assert row["contact_name"] == SHARED
    card = await _card(node, agent, row["conversation_id"])
    assert card["contact"]["id"] not in ("ct_ann", "ct_bea")
    assert card["contact"]["saved"] is False and card["contact"]["phone"] == SHARED

    await twilio.phone_send(to=NUMBER, body="Only here", **{"from": ONLY})
    row = await inbox_conversation(agent, "sms", last_message="Only here")
    assert row["contact_name"] == "Cy"

    await twilio.phone_send(to=NUMBER, body="Early here", **{"from": LINKED})
    row = await inbox_conversation(agent, "sms", last_message="Early here")
    assert row["contact_name"] == "Early Bird"
    card = await _card(node, agent, row["conversation_id"])
    assert card["contact"]["id"] == "ct_early"


# -- two nodes, one new address ------------------------------------------------------


@pytest.fixture
async def pg_store(postgres: services.Postgres) -> AsyncIterator[PostgresStore]:
    """An open store on a fresh PostgreSQL database (several connections: races)."""
    store = PostgresStore(services.createdb(postgres, f"saved_{uuid.uuid4().hex[:8]}"), max_size=10)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


class _ReadBeforeTheirCommit(ContactService):
    """A node whose look-up of the address ran just before another node's link or
    create of it committed: it saw the address free."""

    async def at(self, channel: ChannelName, address: str) -> Contact | None:
        return None


async def test_two_first_messages_from_a_saved_contacts_phone_are_one_contact(
    pg_store: PostgresStore,
) -> None:
    """Two nodes take the first text of a saved contact's phone at the same instant:
    both are that contact. A node that saw the address free after another node had
    made a contact for it (the saved one unknown to that node then) gets that contact:
    the address is never moved over, so one address's conversations stay on one
    contact."""
    nodes = [ContactService(pg_store, time.time) for _ in range(2)]
    for round_ in range(5):
        phone = f"+1202555{round_:04d}"
        saved = await pg_store.create_contact(
            f"ct_s{round_}", name="Saved", phone=phone, now=time.time(), saved=True
        )
        found = await asyncio.gather(*(n.for_conversation("sms", phone, {}) for n in nodes))
        assert [c.id for c in found] == [saved.id, saved.id], found
        at = await pg_store.find_contact_by_address("sms", phone)
        assert at is not None and at.id == saved.id

    # the other node made an unsaved contact for the address a moment before
    early = await pg_store.create_contact(
        "ct_other_node", phone="+12025559999", now=time.time(), address=("sms", "+12025559999")
    )
    await pg_store.create_contact(
        "ct_saved_late", name="Late", phone="+12025559999", now=time.time(), saved=True
    )
    late = _ReadBeforeTheirCommit(pg_store, time.time)
    got = await late.for_conversation("sms", "+12025559999", {"name": "Typed"})
    assert got.id == early.id and got.name == "Typed"
    at = await pg_store.find_contact_by_address("sms", "+12025559999")
    assert at is not None and at.id == early.id
