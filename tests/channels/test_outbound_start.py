"""Conversations an agent starts (``POST /api/conversations``), on a real gateway with
the Twilio emulator (docs/channels.md, "Agents start conversations"): the first SMS goes
out and the conversation is the agent's at once; the contact's answer continues it; an
opted-out number, an invalid one, a channel agents may not start, an inbound-only
touchpoint and a contact already in conversation with someone else are refused with a
clear error and nothing stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from gateway.model.records import Conversation
from tests.channels.support import (
    ACCOUNT,
    TOKEN,
    admin_get,
    agent_on,
    history,
    inbox_conversation,
    on_store,
    sms_touchpoint,
    start,
    whatsapp_touchpoint,
)
from tests.gateway.client import AgentClient

Factory = Callable[..., services.GatewayProcess]
LINE, INBOUND_ONLY = "+14155550100", "+14155550177"
PHONE = "+12025550143"


@pytest.fixture
async def node(gateway_factory: Factory, twilio: EmulatorClient) -> services.GatewayProcess:
    gw = start(
        gateway_factory,
        sms_touchpoint("tp_sms", LINE, twilio.base_url, direction="both"),
        sms_touchpoint("tp_in", INBOUND_ONLY, twilio.base_url),
        whatsapp_touchpoint(
            "tp_wa", "1065", "+14155550111", "http://127.0.0.1:9", direction="both"
        ),
    )
    await twilio.configure(
        accounts={ACCOUNT: TOKEN},
        numbers={
            n: {"account": ACCOUNT, "sms_url": f"{gw.base_url}/webhooks/sms/{tp}", "status": "ok"}
            for tp, n in (("tp_sms", LINE), ("tp_in", INBOUND_ONLY))
        },
    )
    return gw


async def start_conversation(agent: AgentClient, **body: Any) -> httpx.Response:
    body.setdefault("client_msg_id", "first-1")
    body.setdefault("body", "Hello from Demo Shop: your order is ready.")
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{agent.node.base_url}/api/conversations",
            json=body,
            headers={"Authorization": f"Bearer {agent.token}"},
        )


async def sms_conversations(node: services.GatewayProcess) -> list[dict[str, Any]]:
    """The SMS conversations a fresh look at the agent's lists shows."""
    agent = await agent_on(node)
    snap = agent.snapshot
    assert agent.sock
    await agent.sock.close()
    return [c for c in snap["inbox"] + snap["assigned"] if c["channel"] == "sms"]


async def test_an_agent_texts_first_and_the_answer_continues_the_conversation(
    node: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(node)
    r = await start_conversation(agent, touchpoint_id="tp_sms", address="+1 (202) 555-0143")
    assert r.status_code == 201, r.text
    ack = r.json()
    cid = ack["conversation_id"]
    assert agent.sock
    row = await agent.sock.expect("conversation", timeout=15)
    while row["conversation"]["conversation_id"] != cid:
        row = await agent.sock.expect("conversation", timeout=15)
    assert row["conversation"]["state"] == "assigned" and row["conversation"]["channel"] == "sms"
    # Regression: it was stored as an inbound conversation (reports, the automations'
    # events and a rebuild read the direction; the rebuild also routes a start caught
    # before its agent had it to that agent, by owner_agent_id)
    stored = await admin_get(node, f"/api/admin/conversations/{cid}")
    assert (stored["direction"], stored["owner_agent_id"]) == ("outbound", "ag_demo")
    [sent] = await twilio.sent(1)
    assert (sent["To"], sent["From"]) == (PHONE, LINE)
    assert sent["Body"] == "Hello from Demo Shop: your order is ready."
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=20)
    # a retry of the same start is the same message, not a second one
    again = await start_conversation(agent, touchpoint_id="tp_sms", address=PHONE)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["conversation_id"] == cid
    # the contact answers: the same conversation
    await twilio.phone_send(to=LINE, body="Thanks, I'll pick it up", **{"from": PHONE})
    await agent.sock.expect(
        "message", conversation_id=cid, body="Thanks, I'll pick it up", timeout=15
    )
    items = await history(agent, cid)
    assert [i["body"] for i in items if i["type"] == "message"] == [
        "Hello from Demo Shop: your order is ready.",
        "Thanks, I'll pick it up",
    ]
    assert len(await twilio.sent()) == 1


async def test_a_start_a_restart_cut_short_is_closed_and_the_agents_retry_works(
    node: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    """Regression: a node that died between an agent's start's row and the router's
    AgentStarted left it "new" with its agent; the rebuild's arrival for the agent was
    refused (offline after the restart), the row kept the number, and the agent's retry
    was 409 conversation_open. The rebuild closes such a row now."""
    node.stop()
    url = node.env["GATEWAY_DATABASE_URL"]

    async def cut_short(store: Any) -> None:
        now = time.time()
        contact = await store.create_contact("ct_cut", phone=PHONE, now=now, address=("sms", PHONE))
        await store.create_conversation(
            Conversation(id="cv_cut", touchpoint_id="tp_sms", channel="sms",
                         contact_id=contact.id, address=PHONE, state="new",
                         queue_ids=["q_support"], created_at=now, arrived_at=now,
                         direction="outbound", owner_agent_id="ag_demo")
        )  # fmt: skip

    on_store(url, cut_short)
    again = services.start_gateway(node.env, port=node.port)
    try:
        agent = await agent_on(again)
        r = await start_conversation(agent, touchpoint_id="tp_sms", address=PHONE)
        assert r.status_code == 201, r.text
        assert r.json()["conversation_id"] != "cv_cut"
        cut = await admin_get(again, "/api/admin/conversations/cv_cut")
        assert cut["state"] == "closed"
    finally:
        again.stop()


async def test_refusals_are_clear_and_store_nothing(
    node: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(node)
    # an opted-out number: 409 before anything is written
    await twilio.phone_send(to=LINE, body="STOP", **{"from": "+12025550199"})
    await twilio.sent(1)  # the confirmation
    before = len(await sms_conversations(node))
    r = await start_conversation(agent, touchpoint_id="tp_sms", address="+12025550199")
    assert r.status_code == 409 and r.json()["error"]["code"] == "opted_out"
    r = await start_conversation(agent, touchpoint_id="tp_sms", address="not a number")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "address"
    r = await start_conversation(agent, touchpoint_id="tp_in", address=PHONE)
    assert r.status_code == 403 and r.json()["error"]["code"] == "touchpoint_inbound_only"
    r = await start_conversation(agent, touchpoint_id="tp_wa", address="447911123456")
    assert r.status_code == 403 and r.json()["error"]["code"] == "outbound_start_unavailable"
    r = await start_conversation(agent, touchpoint_id="tp_nope", address=PHONE)
    assert r.status_code == 404
    assert len(await sms_conversations(node)) == before
    assert len(await twilio.sent()) == 1

    # a contact in conversation with someone else (waiting in the Inbox): 409
    await twilio.phone_send(to=LINE, body="anyone?", **{"from": PHONE})
    assert agent.sock
    await inbox_conversation(agent, "sms", last_message="anyone?")
    r = await start_conversation(agent, touchpoint_id="tp_sms", address=PHONE, client_msg_id="x")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conversation_open"
    assert len(await twilio.sent()) == 1
