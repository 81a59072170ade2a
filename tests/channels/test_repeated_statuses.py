"""A delivery frame for each change of a message's state, and only then
(docs/channels.md, "Delivery"): the record of the send and the provider's own "sent"
callback, a repeated callback, a late one (a state never goes backwards) move nothing
the second time and tell the agent nothing; against the real gateway and the Twilio and
WhatsApp emulators over real HTTP."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.channels.support import TOKEN, agent_on, history, meta_signed
from tests.channels.test_sms import assigned, line  # noqa: F401 - fixtures
from tests.channels.test_whatsapp import PNID, WA_ID, taken, wa  # noqa: F401 - fixtures
from tests.gateway.client import AgentClient


def deliveries(agent: AgentClient, seq: int) -> list[str]:
    """The states of every delivery frame of message ``seq`` the agent's socket got."""
    assert agent.sock
    return [f["status"] for f in agent.sock.seen if f["type"] == "delivery" and f["seq"] == seq]


async def test_an_sms_state_is_told_once_whatever_the_callbacks_repeat(
    line: services.GatewayProcess,  # noqa: F811
    twilio: EmulatorClient,
) -> None:
    agent = await agent_on(line)
    cid = await assigned(agent, twilio)
    ack = await agent.say(cid, "Your parcel left today.")
    seq = ack["seq"]
    assert agent.sock
    await agent.sock.expect("delivery", seq=seq, status="delivered", timeout=15)
    [sent] = await twilio.sent(1)
    # the provider calls back again (a retry), and late (sent after delivered); then read
    url = sent["StatusCallback"]
    async with httpx.AsyncClient() as http:
        for status in ("delivered", "sent", "delivered", "read"):
            params = {"MessageSid": sent["sid"], "MessageStatus": status}
            r = await http.post(
                url,
                content=urlencode(params),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params),
                },
            )
            assert r.status_code == 204, r.text
    await agent.sock.expect("delivery", seq=seq, status="read", timeout=15)
    assert deliveries(agent, seq) == ["sent", "delivered", "read"]
    [mine] = [m for m in await history(agent, cid) if m.get("seq") == seq]
    assert mine["delivery"] == "read"


def status_change(wamid: str, status: str) -> dict[str, Any]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": PNID},
            "statuses": [{"id": wamid, "status": status, "recipient_id": WA_ID}],
        },
    }


async def test_a_whatsapp_state_is_told_once_whatever_the_statuses_repeat(
    wa: services.GatewayProcess,  # noqa: F811
    whatsapp: EmulatorClient,
) -> None:
    agent = await agent_on(wa)
    cid = str((await taken(agent, whatsapp))["conversation_id"])
    ack = await agent.say(cid, "Olá Ana!")
    seq = ack["seq"]
    assert agent.sock
    await agent.sock.expect("delivery", seq=seq, status="delivered", timeout=15)
    [sent] = await whatsapp.sent(1)
    async with httpx.AsyncClient() as http:
        for status in ("delivered", "sent"):  # repeated, then late
            body = json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [{"changes": [status_change(sent["id"], status)]}],
                }
            ).encode()
            r = await http.post(
                f"{wa.base_url}/webhooks/whatsapp/tp_wa", content=body, headers=meta_signed(body)
            )
            assert r.status_code == 200, r.text
    await whatsapp.phone_read(phone_number_id=PNID, **{"from": WA_ID})
    await agent.sock.expect("delivery", seq=seq, status="read", timeout=15)
    assert deliveries(agent, seq) == ["sent", "delivered", "read"]
