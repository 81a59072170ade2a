"""The agent's workspace on the messaging channels, against the provider emulators:
templates give each channel its own text (SMS, WhatsApp, Messenger, else the default),
and the contact card shows the number the provider vouched for without saving the
contact (docs/console.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from devkit import services
from tests.channels.conftest import Emulators, fresh
from tests.channels.support import (
    ACCOUNT,
    APP_SECRET,
    PAGE_TOKEN,
    TOKEN,
    WA_TOKEN,
    admin_token,
    agent_on,
    inbox_conversation,
    messenger_touchpoint,
    sms_touchpoint,
    start,
    whatsapp_touchpoint,
)
from tests.gateway.client import AgentClient

SMS_NUMBER = "+14155550100"
PNID = "106540352242922"
WA_NUMBER = "+14155550111"
PAGE = "1029384756"
PHONE = "+12025550143"
WA_ID = "447911123456"
PSID = "24012345678901234"

Factory = Callable[..., services.GatewayProcess]

TEMPLATE = {
    "collection": "Support",
    "name": "Order status",
    "content": {
        "default": "Hello {{contact.name}}, {{agent.first_name}} here: your order is on its way.",
        "sms": "Hi, {{agent.first_name}} here. Order shipped. Reply to {{contact.phone}}?",
        "whatsapp": "Olá {{contact.first_name}}! Your order is on its way.",
        "email": "Dear {{contact.name}},\n\nyour order is on its way.\n\n{{agent.name}}",
    },
}


async def node_with_all(gateway_factory: Factory, emulators: Emulators) -> services.GatewayProcess:
    twilio, whatsapp, messenger = [
        await fresh(emulators, n) for n in ("twilio", "whatsapp", "messenger")
    ]
    node = start(
        gateway_factory,
        sms_touchpoint("tp_sms", SMS_NUMBER, twilio.base_url),
        whatsapp_touchpoint("tp_wa", PNID, WA_NUMBER, whatsapp.base_url),
        messenger_touchpoint("tp_page", PAGE, messenger.base_url),
    )
    await twilio.configure(
        accounts={ACCOUNT: TOKEN},
        numbers={
            SMS_NUMBER: {
                "account": ACCOUNT,
                "sms_url": f"{node.base_url}/webhooks/sms/tp_sms",
                "status": "ok",
            }
        },
    )
    await whatsapp.configure(
        numbers={
            PNID: {
                "display_phone_number": WA_NUMBER,
                "token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": f"{node.base_url}/webhooks/whatsapp/tp_wa",
            }
        }
    )
    await messenger.configure(
        pages={
            PAGE: {
                "token": PAGE_TOKEN,
                "app_secret": APP_SECRET,
                "name": "demoshop",
                "webhook_url": f"{node.base_url}/webhooks/messenger/tp_page",
            }
        },
        profiles={PSID: {"first_name": "Jane", "last_name": "Doe"}},
    )
    return node


async def get(node: services.GatewayProcess, agent: AgentClient, path: str) -> Any:
    async with httpx.AsyncClient() as http:
        r = await http.get(node.base_url + path, headers={"Authorization": f"Bearer {agent.token}"})
    r.raise_for_status()
    return r.json()


async def test_templates_per_channel_and_the_card_of_a_phone_contact(
    gateway_factory: Factory, emulators: Emulators
) -> None:
    node = await node_with_all(gateway_factory, emulators)
    async with httpx.AsyncClient() as http:
        made = await http.post(
            node.base_url + "/api/admin/templates",
            json=TEMPLATE,
            headers={"Authorization": f"Bearer {await admin_token(node)}"},
        )
    assert made.status_code == 201, made.text
    agent = await agent_on(node)

    await emulators.client("twilio").phone_send(
        to=SMS_NUMBER, body="Where is my order?", **{"from": PHONE}
    )
    sms = await inbox_conversation(agent, "sms", last_message="Where is my order?")
    await emulators.client("whatsapp").phone_send(
        phone_number_id=PNID, name="Ana Lima", body="Olá", **{"from": WA_ID}
    )
    wa = await inbox_conversation(agent, "whatsapp", last_message="Olá")
    await emulators.client("messenger").phone_send(page_id=PAGE, psid=PSID, text="Hi there")
    fb = await inbox_conversation(agent, "messenger", last_message="Hi there")

    texts = {}
    for conv in (sms, wa, fb):
        cid = str(conv["conversation_id"])
        assert (await agent.act("assign", cid))["type"] == "ok"
        rendered = await get(node, agent, f"/api/console/conversations/{cid}/templates")
        assert [t["name"] for t in rendered] == ["Order status"]
        texts[conv["channel"]] = rendered[0]["text"]
    # each channel its own text, the variables filled; Messenger has none: the default
    assert texts == {
        "sms": f"Hi, Ada here. Order shipped. Reply to {PHONE}?",
        "whatsapp": "Olá Ana! Your order is on its way.",
        "messenger": "Hello Jane Doe, Ada here: your order is on its way.",
    }

    # the SMS contact's number is the provider's word: on the card, not yet saved
    card = await get(node, agent, f"/api/console/conversations/{sms['conversation_id']}/card")
    assert card["address"] == PHONE
    assert card["contact"]["phone"] == PHONE and card["contact"]["saved"] is False
    wa_card = await get(node, agent, f"/api/console/conversations/{wa['conversation_id']}/card")
    assert wa_card["contact"]["phone"] == f"+{WA_ID}"
    assert wa_card["contact"]["name"] == "Ana Lima"
