"""Messenger through the Messenger Platform, against the Messenger emulator over real
HTTP: handshake, signed webhooks, profile names, the 7-day window, one page per
touchpoint, receipts (docs/channels/messenger.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import msgspec
import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.channels.support import (
    APP_SECRET,
    PAGE_TOKEN,
    VERIFY,
    admin_token,
    agent_on,
    history,
    inbox_conversation,
    messenger_touchpoint,
    meta_signed,
    start,
)
from tests.gateway.client import AgentClient

PAGE = "1029384756"
PSID = "24012345678901234"

Factory = Callable[..., services.GatewayProcess]


async def _configure(messenger: EmulatorClient, node: services.GatewayProcess) -> None:
    """The emulator's page, its webhook to ``node``'s tp_page, and Jane's profile."""
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


@pytest.fixture
async def page(gateway_factory: Factory, messenger: EmulatorClient) -> services.GatewayProcess:
    node = start(gateway_factory, messenger_touchpoint("tp_page", PAGE, messenger.base_url))
    await _configure(messenger, node)
    return node


async def taken(
    agent: AgentClient, messenger: EmulatorClient, **message: object
) -> dict[str, object]:
    await messenger.phone_send(page_id=PAGE, psid=PSID, **{"text": "Hi there", **message})
    rows = {"last_message": "Hi there"} if "message" not in message else {}
    conv = await inbox_conversation(agent, "messenger", place="inbox", **rows)
    assert (await agent.act("assign", str(conv["conversation_id"])))["type"] == "ok"
    return conv


async def test_the_subscription_handshake(page: services.GatewayProcess) -> None:
    url = f"{page.base_url}/webhooks/messenger/tp_page"
    async with httpx.AsyncClient() as http:
        ok = await http.get(
            url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY,
                "hub.challenge": "CHALLENGE_ACCEPTED",
            },
        )
        assert ok.text == "CHALLENGE_ACCEPTED"
        assert (await http.get(url, params={"hub.mode": "subscribe"})).status_code == 403


async def test_a_person_shows_by_profile_name_and_the_reply_is_delivered_and_read(
    page: services.GatewayProcess, messenger: EmulatorClient
) -> None:
    agent = await agent_on(page)
    conv = await taken(agent, messenger)
    assert conv["contact_name"] == "Jane Doe"
    assert conv["channel_state"]["link"] == "https://m.me/demoshop"
    assert 6.99 * 86400 < conv["channel_state"]["window_closes_in"] <= 7 * 86400
    cid = str(conv["conversation_id"])
    ack = await agent.say(cid, "Hello Jane")
    [sent] = await messenger.sent(1)
    assert sent["recipient"] == {"id": PSID} and sent["message"] == {"text": "Hello Jane"}
    assert sent["messaging_type"] == "RESPONSE"
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="sent")
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered")
    await messenger.phone_read(page_id=PAGE, psid=PSID)
    await agent.sock.expect("delivery", seq=ack["seq"], status="read")


async def test_the_window_closes_after_7_days_and_the_platform_refuses_too(
    page: services.GatewayProcess, messenger: EmulatorClient
) -> None:
    agent = await agent_on(page)
    conv = await taken(agent, messenger, timestamp=time.time() - 8 * 86400)
    cid = str(conv["conversation_id"])
    assert conv["channel_state"]["locked"] == "session_expired"
    assert agent.sock
    await agent.sock.send(
        {"type": "send", "conversation_id": cid, "body": "Hi?", "client_msg_id": "late-1"}
    )
    assert (await agent.sock.expect("error", ref="late-1"))["code"] == "session_expired"
    await messenger.phone_send(page_id=PAGE, psid=PSID, text="back")
    await agent.sock.expect("message", conversation_id=cid, body="back")
    await messenger.reset()  # the platform forgot: its window is closed, the gateway's not
    ack = await agent.say(cid, "Welcome back")
    failed = await agent.sock.expect("delivery", seq=ack["seq"], status="failed")
    assert "7-day" in failed["reason"]


async def test_attachments_make_a_notice_and_a_page_has_one_touchpoint(
    page: services.GatewayProcess, messenger: EmulatorClient
) -> None:
    agent = await agent_on(page)
    conv = await taken(
        agent,
        messenger,
        message={
            "attachments": [{"type": "image", "payload": {"url": "https://example.invalid/a.jpg"}}]
        },
    )
    # the image's address does not answer: the notice takes the message's place (it is
    # stored before the conversation is routed, so it is read from the history)
    cid = str(conv["conversation_id"])
    items = await history(agent, cid)
    [notice] = [i for i in items if i["type"] == "event" and i["event"] == "notice"]
    assert "could not be fetched" in notice["text"]
    assert [i for i in items if i["type"] == "message"] == []
    token = await admin_token(page)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post(
            page.base_url + "/api/admin/touchpoints",
            json={
                "name": "Twin page",
                "channel": "messenger",
                "routing_mode": "simplified",
                "queue_ids": ["q_support"],
                "settings": {
                    "page_id": PAGE,
                    "page_access_token": "t",
                    "app_secret": "s",
                    "verify_token": "v",
                },
            },
        )
    assert r.status_code == 422
    assert [f["field"] for f in r.json()["error"]["fields"]] == ["settings.page_id"]


async def test_a_retry_after_the_end_is_stored_once_and_an_inactive_page_is_skipped(
    gateway_factory: Factory, messenger: EmulatorClient
) -> None:
    other = "2000000002"
    node = start(
        gateway_factory,
        messenger_touchpoint("tp_page", PAGE, messenger.base_url),
        msgspec.structs.replace(
            messenger_touchpoint("tp_off", other, messenger.base_url), active=False
        ),
    )
    await _configure(messenger, node)
    agent = await agent_on(node)
    conv = await taken(agent, messenger, mid="m_once")
    cid = str(conv["conversation_id"])
    assert (await agent.act("end", cid))["type"] == "ok"
    await messenger.phone_send(page_id=PAGE, psid=PSID, text="Hi there", mid="m_once")  # a retry

    # one POST with an inactive page's entry and the active page's: the active one's
    # message is stored, the POST answered 200
    def entry(page_id: str, mid: str, text: str) -> dict[str, object]:
        return {
            "id": page_id,
            "time": 1,
            "messaging": [
                {
                    "sender": {"id": PSID},
                    "recipient": {"id": page_id},
                    "timestamp": int(time.time() * 1000),
                    "message": {"mid": mid, "text": text},
                }
            ],
        }

    body = json.dumps(
        {
            "object": "page",
            "entry": [entry(other, "m_off", "to the inactive page"), entry(PAGE, "m_on", "Again")],
        }
    ).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{node.base_url}/webhooks/messenger/tp_page",
            content=body,
            headers=meta_signed(body),
        )
    assert r.status_code == 200, r.text
    nxt = await inbox_conversation(agent, "messenger", place="inbox")
    assert (await agent.act("assign", str(nxt["conversation_id"])))["type"] == "ok"
    items = await history(agent, str(nxt["conversation_id"]))
    assert [m["body"] for m in items if m["type"] == "message"] == ["Again"]


async def test_a_signed_but_malformed_event_is_a_400_never_a_500(
    page: services.GatewayProcess,
) -> None:
    """Parts of a messaging event of the wrong type (attachments or a receipt's mids that
    are not a list, an id that is not a string) refuse the whole webhook before anything
    of it is stored: Meta's retry cannot store half of it, and the log has no traceback."""

    def event(**fields: object) -> bytes:
        item = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1, **fields}
        ok = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1}
        ok["message"] = {"mid": "m_first", "text": "stored first?"}
        return json.dumps(
            {"object": "page", "entry": [{"id": PAGE, "messaging": [ok, item]}]}
        ).encode()

    bodies = [
        event(message={"mid": "m_bad", "text": "x", "attachments": 5}),
        event(message={"mid": {"not": "a string"}, "text": "x"}),
        event(delivery={"mids": 5, "watermark": 1}),
        event(delivery={"mids": "m_abc", "watermark": 1}),
        event(read={"watermark": "soon"}),
    ]
    async with httpx.AsyncClient() as http:
        statuses = []
        for body in bodies:
            r = await http.post(
                f"{page.base_url}/webhooks/messenger/tp_page",
                content=body,
                headers=meta_signed(body),
            )
            statuses.append(r.status_code)
    assert statuses == [400] * 5
    assert "Traceback" not in page.output()
    agent = await agent_on(page)
    assert [c for c in agent.snapshot["inbox"] if c["channel"] == "messenger"] == []


async def test_a_receipt_from_another_apps_page_changes_nothing(
    gateway_factory: Factory, messenger: EmulatorClient
) -> None:
    """A delivery receipt names messages by their mid alone: it counts only for the
    messages its page's touchpoint sent, never for another app's page's."""
    other_page, other_secret = "2000000002", "another-apps-secret"
    other = messenger_touchpoint("tp_other", other_page, messenger.base_url)
    other = msgspec.structs.replace(other, settings={**other.settings, "app_secret": other_secret})
    node = start(gateway_factory, messenger_touchpoint("tp_page", PAGE, messenger.base_url), other)
    await _configure(messenger, node)
    agent = await agent_on(node)
    cid = str((await taken(agent, messenger))["conversation_id"])
    # the platform's own receipts go nowhere from now on: the reply stays "sent"
    await messenger.configure(
        pages={
            PAGE: {
                "token": PAGE_TOKEN,
                "app_secret": APP_SECRET,
                "name": "demoshop",
                "webhook_url": "http://127.0.0.1:9/nowhere",
            }
        }
    )
    ack = await agent.say(cid, "Hello Jane")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="sent")
    [sent] = await messenger.sent(1)
    async with httpx.AsyncClient() as http:
        for tp_id, page_id, secret, expected in (
            ("tp_other", other_page, other_secret, "sent"),
            ("tp_page", PAGE, APP_SECRET, "delivered"),
        ):
            item = {
                "sender": {"id": PSID},
                "recipient": {"id": page_id},
                "timestamp": 1,
                "delivery": {"mids": [sent["message_id"]], "watermark": 1},
            }
            body = json.dumps(
                {"object": "page", "entry": [{"id": page_id, "messaging": [item]}]}
            ).encode()
            r = await http.post(
                f"{node.base_url}/webhooks/messenger/{tp_id}",
                content=body,
                headers=meta_signed(body, secret),
            )
            assert r.status_code == 200, r.text
            [mine] = [m for m in await history(agent, cid) if m.get("seq") == ack["seq"]]
            assert mine["delivery"] == expected, tp_id


async def test_an_outbound_only_page_takes_no_new_conversation(
    gateway_factory: Factory, messenger: EmulatorClient
) -> None:
    """A page whose touchpoint an admin set to outbound: a person's message that would
    start a conversation is not taken, the webhook answered 200 (it was a 403 Meta
    retried for days), and the admins are told."""
    node = start(
        gateway_factory,
        messenger_touchpoint("tp_page", PAGE, messenger.base_url, direction="outbound"),
    )
    await _configure(messenger, node)
    admin = await agent_on(node, ("admin@demo.test", "demo-admin"))
    await messenger.phone_send(page_id=PAGE, psid=PSID, text="Hello?")
    hooks = await messenger.webhooks()
    assert [h["attempts"] for h in hooks] == [[200]]
    assert admin.sock
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "sending_refused" and notice["touchpoint_id"] == "tp_page"
    assert PSID not in notice["message"]
    fresh = await agent_on(node)
    assert [c for c in fresh.snapshot["inbox"] if c["channel"] == "messenger"] == []
