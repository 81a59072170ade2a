"""A provider's token, secret or account id that no request can carry (a placeholder's
ellipsis, a space, a pasted line break) against the real gateway and the provider
emulators: the touchpoint's settings check refuses it with a 422 on the field, or
strips the whitespace around it; a value stored before that check fails the reply for
good with a notice to the admins, never a retry; and the delivery worker fails for good
a request an adapter could not even build (docs/channels/whatsapp.md, messenger.md,
sms.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from channels.outbound import post
from devkit import services
from devkit.emulators.client import EmulatorClient
from gateway.app import Node
from gateway.model.records import Conversation, Message
from gateway.services.deliveries import Outcome
from tests.channels.support import (
    ACCOUNT,
    APP_SECRET,
    TOKEN,
    VERIFY,
    WA_TOKEN,
    admin_token,
    agent_on,
    inbox_conversation,
    sms_touchpoint,
    start,
    whatsapp_touchpoint,
)
from tests.gateway.conftest import ADMIN
from tests.gateway.test_deliveries import (  # noqa: F401 - node: a fixture of these tests too
    Provider,
    assigned_sms,
    delivery_frame,
    frames_for,
    node,
)

PNID, NUMBER, WA_ID = "106540352242922", "+14155550111", "447911123456"

Factory = Callable[..., services.GatewayProcess]


def whatsapp_in(**settings: str) -> dict[str, Any]:
    return {
        "name": "WhatsApp",
        "channel": "whatsapp",
        "routing_mode": "simplified",
        "queue_ids": ["q_support"],
        "settings": {
            "phone_number_id": "106540352242923",
            "number": "+14155550112",
            "access_token": WA_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            **settings,
        },
    }


def messenger_in(**settings: str) -> dict[str, Any]:
    return {
        "name": "Page",
        "channel": "messenger",
        "routing_mode": "simplified",
        "queue_ids": ["q_support"],
        "settings": {
            "page_id": "1029384757",
            "page_access_token": "EAAGpage",
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            **settings,
        },
    }


def sms_in(**settings: str) -> dict[str, Any]:
    return {
        "name": "SMS",
        "channel": "sms",
        "routing_mode": "simplified",
        "queue_ids": ["q_support"],
        "settings": {
            "provider": "twilio",
            "number": "+14155550199",
            "account_sid": ACCOUNT,
            "auth_token": TOKEN,
            **settings,
        },
    }


REFUSED = [
    # the docs' own example: "…" (one character, U+2026) stands for the token
    (whatsapp_in(access_token="…"), "settings.access_token", "U+2026 HORIZONTAL ELLIPSIS"),
    (whatsapp_in(access_token="EAAG 123"), "settings.access_token", "character 5 is a space"),
    (whatsapp_in(app_secret="sécret"), "settings.app_secret", "character 2 is U+00E9"),
    (messenger_in(page_access_token="EAAG\n123"), "settings.page_access_token", "a line break"),
    (messenger_in(app_secret="…"), "settings.app_secret", "U+2026"),
    (sms_in(auth_token="tok…en"), "settings.auth_token", "character 4 is U+2026"),
    (sms_in(account_sid=ACCOUNT + "…"), "settings.account_sid", "AC and 32 hex digits"),
]


@pytest.fixture
async def gateway(gateway_factory: Factory) -> services.GatewayProcess:
    return start(gateway_factory)


@pytest.mark.parametrize(("body", "field", "words"), REFUSED)
async def test_a_credential_no_request_can_carry_is_a_422_on_its_field(
    gateway: services.GatewayProcess, body: dict[str, Any], field: str, words: str
) -> None:
    token = await admin_token(gateway)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post(gateway.base_url + "/api/admin/touchpoints", json=body)
    assert r.status_code == 422, r.text
    [problem] = r.json()["error"]["fields"]
    assert problem["field"] == field and words in problem["message"], problem
    # the refusal names the character, never the value (a secret)
    secret = body["settings"][field.removeprefix("settings.")]
    assert secret not in r.text


async def test_whitespace_around_a_credential_is_stripped(
    gateway: services.GatewayProcess,
) -> None:
    token = await admin_token(gateway)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for body in (
            messenger_in(page_access_token="EAAGpage\n", app_secret=f" {APP_SECRET}\r\n"),
            sms_in(account_sid=f"{ACCOUNT}\n", auth_token=f"\t{TOKEN} "),
        ):
            r = await http.post(gateway.base_url + "/api/admin/touchpoints", json=body)
            assert r.status_code == 201, r.text
    assert r.json()["settings"]["account_sid"] == ACCOUNT


@pytest.fixture
async def wa_node(gateway_factory: Factory, whatsapp: EmulatorClient) -> services.GatewayProcess:
    gw = start(gateway_factory, whatsapp_touchpoint("tp_wa", PNID, NUMBER, whatsapp.base_url))
    await whatsapp.configure(
        numbers={
            PNID: {
                "display_phone_number": NUMBER,
                "token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": f"{gw.base_url}/webhooks/whatsapp/tp_wa",
            }
        }
    )
    return gw


async def test_a_token_pasted_with_a_line_break_is_saved_without_it_and_works(
    wa_node: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    """The walkthrough's PATCH of "EAAG123\\n": 200, then "WhatsApp unreachable:
    LocalProtocolError" retried for good. Stripped, Meta takes it."""
    token = await admin_token(wa_node)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.patch(
            wa_node.base_url + "/api/admin/touchpoints/tp_wa",
            json={"settings": {"access_token": f"{WA_TOKEN}\n"}},
        )
    assert r.status_code == 200, r.text
    agent = await agent_on(wa_node)
    await whatsapp.phone_send(phone_number_id=PNID, name="Ana", body="Olá", **{"from": WA_ID})
    cid = (await inbox_conversation(agent, "whatsapp", place="inbox"))["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Olá Ana!")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=15)
    assert "unreachable" not in wa_node.output()


@pytest.mark.parametrize("stored", ["…", f"{WA_TOKEN}\n"])
async def test_a_stored_token_no_request_can_carry_fails_the_reply_and_tells_the_admins(
    gateway_factory: Factory, whatsapp: EmulatorClient, stored: str
) -> None:
    """A token stored before the settings check refused it (written straight into the
    store): the reply fails at once, for good, with the admins' notice; nothing is sent,
    nothing retried, no traceback."""
    tp = whatsapp_touchpoint("tp_wa", PNID, NUMBER, whatsapp.base_url)
    tp = msgspec.structs.replace(tp, settings={**tp.settings, "access_token": stored})
    gw = start(gateway_factory, tp)
    await whatsapp.configure(
        numbers={
            PNID: {
                "display_phone_number": NUMBER,
                "token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": f"{gw.base_url}/webhooks/whatsapp/tp_wa",
            }
        }
    )
    admin = await agent_on(gw, ADMIN)
    agent = await agent_on(gw)
    await whatsapp.phone_send(phone_number_id=PNID, name="Ana", body="Olá", **{"from": WA_ID})
    cid = (await inbox_conversation(agent, "whatsapp", place="inbox"))["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Olá Ana!")
    assert agent.sock and admin.sock
    frame = await agent.sock.expect("delivery", seq=ack["seq"], status="failed", timeout=15)
    assert "access token cannot be sent to WhatsApp" in frame["reason"]
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "provider_error" and notice["touchpoint_id"] == "tp_wa"
    assert "access token cannot be sent to Meta" in notice["message"]
    assert stored.strip() not in notice["message"]
    assert await whatsapp.sent(0, timeout=0) == []
    output = gw.output()
    assert "Traceback" not in output and "unreachable" not in output


class Unbuildable(Provider):
    """An adapter whose request cannot be built: its HTTP client raises before sending."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        await super().deliver(conv, message)
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("ascii", "Bearer …", 7, 8, "ordinal not in range(128)"),
        httpx.LocalProtocolError("Illegal header value b'Bearer EAAG123\\n'"),
    ],
    ids=["encoding", "protocol"],
)
async def test_a_request_the_adapter_cannot_build_fails_for_good(
    node: Node,  # noqa: F811 - the fixture imported above
    error: Exception,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = Unbuildable(error)
    agent, conv = await assigned_sms(node, provider)
    frames = await frames_for(node, agent.id)
    await node.desk.send(agent, conv, "c-1", "Hello?")
    frame = await delivery_frame(frames)
    assert frame["status"] == "failed"
    assert "could not build the request to the provider" in str(frame["reason"])
    assert len(provider.attempts) == 1  # failed at the first attempt: no retry
    assert not [r for r in caplog.records if r.exc_info]  # no traceback
    assert "EAAG123" not in caplog.text


async def test_a_stored_sms_auth_token_no_request_can_carry_sends_nothing(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """Twilio's auth token goes into the basic auth of every send: one stored before the
    settings check refused such values (a placeholder's "…") fails the reply at once
    with the admins' notice, and no request is made of it."""
    number, phone, stored = "+14155550100", "+12025550143", "tok…en"
    tp = sms_touchpoint("tp_sms", number, twilio.base_url)
    tp = msgspec.structs.replace(tp, settings={**tp.settings, "auth_token": stored})
    gw = start(gateway_factory, tp)
    await twilio.reset()
    await twilio.configure(
        accounts={ACCOUNT: stored},  # the emulator signs the contact's text with it
        numbers={number: {"account": ACCOUNT, "sms_url": f"{gw.base_url}/webhooks/sms/tp_sms"}},
    )
    admin = await agent_on(gw, ADMIN)
    agent = await agent_on(gw)
    await twilio.phone_send(to=number, body="Hello?", **{"from": phone})
    cid = (await inbox_conversation(agent, "sms"))["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Hello from us")
    assert agent.sock and admin.sock
    frame = await agent.sock.expect("delivery", seq=ack["seq"], status="failed", timeout=15)
    assert "auth token cannot be sent to the provider" in frame["reason"]
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "sending_refused" and "the auth token" in notice["message"]
    assert stored not in notice["message"]
    assert await twilio.sent(0, timeout=0) == []


async def test_the_providers_http_post_does_not_retry_a_request_it_cannot_build() -> None:
    """A header HTTP cannot carry (a line break) reaches a real loopback server's
    connection as h11's refusal to write it: channels.outbound.post lets it through to
    the delivery worker (failed for good), where it said "unreachable; retrying"."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.LocalProtocolError):
                await post(
                    http, "Provider", f"http://127.0.0.1:{port}/send",
                    headers={"Authorization": "Bearer abc\ndef"},
                )  # fmt: skip
    finally:
        server.close()
        await server.wait_closed()
