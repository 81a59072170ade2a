"""WhatsApp through the Cloud API, against the WhatsApp emulator over real HTTP: the
subscription handshake, signed webhooks, profile names, the 24-hour window, blocked
countries, statuses, faults (docs/channels/whatsapp.md)."""

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
    VERIFY,
    WA_TOKEN,
    admin_get,
    agent_on,
    declared_body_status,
    history,
    inbox_conversation,
    meta_signed,
    start,
    whatsapp_touchpoint,
)
from tests.gateway.client import AgentClient

PNID = "106540352242922"
NUMBER = "+14155550111"
WA_ID = "447911123456"

Factory = Callable[..., services.GatewayProcess]


@pytest.fixture
async def wa(gateway_factory: Factory, whatsapp: EmulatorClient) -> services.GatewayProcess:
    node = start(gateway_factory, whatsapp_touchpoint("tp_wa", PNID, NUMBER, whatsapp.base_url))
    await whatsapp.configure(
        numbers={
            PNID: {
                "display_phone_number": NUMBER,
                "token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": f"{node.base_url}/webhooks/whatsapp/tp_wa",
            }
        }
    )
    return node


async def taken(
    agent: AgentClient, whatsapp: EmulatorClient, **message: object
) -> dict[str, object]:
    await whatsapp.phone_send(
        phone_number_id=PNID, name="Ana Lima", body="Olá", **{"from": WA_ID, **message}
    )
    body = message.get("body", "Olá")
    conv = await inbox_conversation(agent, "whatsapp", place="inbox", last_message=body)
    assert (await agent.act("assign", str(conv["conversation_id"])))["type"] == "ok"
    return conv


async def test_the_subscription_handshake(wa: services.GatewayProcess) -> None:
    url = f"{wa.base_url}/webhooks/whatsapp/tp_wa"
    async with httpx.AsyncClient() as http:
        ok = await http.get(
            url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY,
                "hub.challenge": "1158201444",
            },
        )
        assert (ok.status_code, ok.text) == (200, "1158201444")
        bad = await http.get(
            url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
        )
        assert bad.status_code == 403


async def test_a_message_reaches_the_agent_by_name_and_the_reply_is_tracked_to_read(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    conv = await taken(agent, whatsapp)
    assert conv["contact_name"] == "Ana Lima"
    state = conv["channel_state"]
    assert state["link"] == "https://wa.me/14155550111"
    assert 23.9 * 3600 < state["window_closes_in"] <= 24 * 3600
    assert "locked" not in state
    cid = str(conv["conversation_id"])
    ack = await agent.say(cid, "Olá Ana! How can I help?")
    [sent] = await whatsapp.sent(1)
    assert (sent["to"], sent["text"]["body"]) == (WA_ID, "Olá Ana! How can I help?")
    assert sent["biz_opaque_callback_data"] == f"{cid}.{ack['seq']}"
    assert agent.sock
    for status in ("sent", "delivered"):
        await agent.sock.expect("delivery", seq=ack["seq"], status=status)
    await whatsapp.phone_read(phone_number_id=PNID, **{"from": WA_ID})
    await agent.sock.expect("delivery", seq=ack["seq"], status="read")


async def test_a_profile_name_and_text_lose_their_bidi_overrides(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    """Issue 11, item 11, for messages from a provider: "\u202egnp.exe" would show as
    "exe.png"; the name and the text are stored without the override."""
    agent = await agent_on(wa)
    await whatsapp.phone_send(
        phone_number_id=PNID,
        name="\u202eAna\u0007 Lima",
        body="see \u202egnp.exe",
        **{"from": WA_ID},
    )
    conv = await inbox_conversation(agent, "whatsapp", place="inbox", last_message="see gnp.exe")
    assert conv["contact_name"] == "Ana Lima"


async def test_the_window_closes_24_hours_after_the_contacts_last_message(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    # the contact wrote 25 hours ago (a webhook delivered late, or an old conversation)
    conv = await taken(agent, whatsapp, timestamp=time.time() - 25 * 3600)
    cid = str(conv["conversation_id"])
    assert agent.sock
    await agent.sock.send(
        {"type": "send", "conversation_id": cid, "body": "Still there?", "client_msg_id": "late-1"}
    )
    error = await agent.sock.expect("error", ref="late-1")
    assert error["code"] == "session_expired"
    snapshot = (await agent_on(wa)).snapshot
    [row] = [c for c in snapshot["assigned"] if c["conversation_id"] == cid]
    assert row["channel_state"]["locked"] == "session_expired"
    assert "closed" in row["channel_state"]["notice"] and row["state"] == "assigned"
    # the contact writes again: the window reopens, the conversation never closed
    await whatsapp.phone_send(phone_number_id=PNID, name="Ana Lima", body="Yes!", **{"from": WA_ID})
    await agent.sock.expect("message", conversation_id=cid, body="Yes!")
    ack = await agent.say(cid, "Great")
    assert ack["seq"] > 0


async def test_a_send_the_platform_fails_outside_its_window_reaches_the_agent(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    conv = await taken(agent, whatsapp)
    await whatsapp.reset()  # the platform forgot the contact's message: its window is closed
    ack = await agent.say(str(conv["conversation_id"]), "Hello?")
    assert agent.sock
    try:
        failed = await agent.sock.expect("delivery", seq=ack["seq"], status="failed")
    except TimeoutError as exc:
        hooks, sent = await whatsapp.webhooks(), await whatsapp.sent()
        raise AssertionError(f"no failed status: webhooks {hooks}, sent {sent}") from exc
    assert "131047" in failed["reason"]


async def test_contacts_from_blocked_countries_are_refused_at_intake(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    for wa_id in ("989121234567", "5352123456", "79781234567"):
        await whatsapp.phone_send(phone_number_id=PNID, name="X", body="hi", **{"from": wa_id})
    hooks = await whatsapp.webhooks()
    assert all(h["attempts"] == [200] for h in hooks)  # answered: nothing to retry
    await taken(agent, whatsapp)  # the next conversation is an allowed one
    log = wa.output()
    assert "Iran" in log and "Cuba" in log and "Crimea" in log
    assert "989121234567" not in log


async def test_retries_unsupported_content_and_bad_webhooks(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    conv = await taken(agent, whatsapp, id="wamid.first")
    cid = str(conv["conversation_id"])
    await whatsapp.phone_send(
        phone_number_id=PNID, name="Ana Lima", body="Olá", id="wamid.first", **{"from": WA_ID}
    )  # the provider's retry: nothing new
    await whatsapp.phone_send(
        phone_number_id=PNID,
        name="Ana Lima",
        id="wamid.contacts",
        message={"type": "contacts", "contacts": [{"name": {"formatted_name": "Bo"}}]},
        **{"from": WA_ID},
    )
    assert agent.sock
    notice = await agent.sock.expect("event", conversation_id=cid, event="notice")
    assert "contacts" in notice["text"]
    items = await history(agent, cid)
    assert [m["body"] for m in items if m["type"] == "message"] == ["Olá"]
    url = f"{wa.base_url}/webhooks/whatsapp/tp_wa"

    async with httpx.AsyncClient() as http:
        good = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
        assert (await http.post(url, content=good, headers=meta_signed(good))).status_code == 200
        bad_sig = {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"}
        assert (await http.post(url, content=good, headers=bad_sig)).status_code == 403
        assert (await http.post(url, content=good)).status_code == 403
        assert (
            await http.post(url, content=b"{not json", headers=meta_signed(b"{not json"))
        ).status_code == 400
        shape = b'{"object": 3}'
        assert (await http.post(url, content=shape, headers=meta_signed(shape))).status_code == 400
        # Meta documents payloads of up to 3 MB: a large one is read (and decoded), a
        # larger one refused before it is read.
        large = good + b" " * (2 * 2**20)
        assert (await http.post(url, content=large, headers=meta_signed(large))).status_code == 200
        too_big = 3 * 2**20 + 1
        assert await declared_body_status(wa, "/webhooks/whatsapp/tp_wa", too_big) == 413
        unknown = f"{wa.base_url}/webhooks/whatsapp/tp_nope"
        assert (
            await http.post(unknown, content=good, headers=meta_signed(good))
        ).status_code == 404


async def test_secrets_are_never_read_back(wa: services.GatewayProcess) -> None:
    tp = await admin_get(wa, "/api/admin/touchpoints/tp_wa")
    assert set(tp["settings"]) == {
        "phone_number_id",
        "number",
        "api_base",
        "api_version",
        "access_token_set",
        "app_secret_set",
        "verify_token_set",
    }
    assert all(tp["settings"][f"{k}_set"] for k in ("access_token", "app_secret", "verify_token"))
    assert APP_SECRET not in wa.output() and WA_TOKEN not in wa.output()


def text_change(pnid: str, wamid: str, body: str) -> dict[str, object]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": pnid, "display_phone_number": NUMBER},
            "contacts": [{"wa_id": WA_ID, "profile": {"name": "Ana Lima"}}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": wamid,
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": body},
                }
            ],
        },
    }


async def test_a_retry_after_the_conversation_ended_is_stored_once(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    conv = await taken(agent, whatsapp, id="wamid.once")
    cid = str(conv["conversation_id"])
    assert (await agent.act("end", cid))["type"] == "ok"
    await whatsapp.phone_send(
        phone_number_id=PNID, name="Ana Lima", body="Olá", id="wamid.once", **{"from": WA_ID}
    )  # Meta's retry, after the end
    await whatsapp.phone_send(
        phone_number_id=PNID, name="Ana Lima", body="Again", **{"from": WA_ID}
    )
    nxt = await inbox_conversation(agent, "whatsapp", place="inbox")
    assert (await agent.act("assign", str(nxt["conversation_id"])))["type"] == "ok"
    items = await history(agent, str(nxt["conversation_id"]))
    assert [m["body"] for m in items if m["type"] == "message"] == ["Again"]


async def test_a_batch_skips_an_inactive_number_and_other_fields(
    gateway_factory: Factory, whatsapp: EmulatorClient
) -> None:
    """Meta batches one app's numbers and every field it is subscribed to in one POST:
    an inactive number's messages and the fields the gateway does not read are skipped,
    the rest is stored, and the POST is answered 200 (a refusal would be retried
    whole)."""
    other = "206540352242922"
    node = start(
        gateway_factory,
        whatsapp_touchpoint("tp_wa", PNID, NUMBER, whatsapp.base_url),
        msgspec.structs.replace(
            whatsapp_touchpoint("tp_off", other, "+14155550112", whatsapp.base_url),
            active=False,
        ),
    )
    agent = await agent_on(node)
    quality = {
        "field": "phone_number_quality_update",
        "value": {"display_phone_number": "14155550111", "event": "FLAGGED"},
    }
    template = {
        "field": "message_template_status_update",
        "value": {"event": "APPROVED", "message_template_id": 1234, "reason": None},
    }
    event = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    text_change(other, "wamid.off", "to the inactive number"),
                    quality,
                    text_change(PNID, "wamid.on", "to the active number"),
                    template,
                ],
            }
        ],
    }
    body = json.dumps(event).encode()
    url = f"{node.base_url}/webhooks/whatsapp/tp_wa"
    async with httpx.AsyncClient() as http:
        r = await http.post(url, content=body, headers=meta_signed(body))
        assert r.status_code == 200, r.text
        alone = json.dumps(
            {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [quality]}]}
        ).encode()
        r = await http.post(url, content=alone, headers=meta_signed(alone))
        assert r.status_code == 200, r.text
    conv = await inbox_conversation(agent, "whatsapp", last_message="to the active number")
    assert conv["touchpoint_id"] == "tp_wa"
    assert "inactive touchpoint tp_off" in node.output()


async def test_a_message_the_core_does_not_take_fails_no_batch(
    wa: services.GatewayProcess,
) -> None:
    """A message id past what the core takes (channels/webhooks.py) was a 422 for the
    whole batch, the messages after it never stored and the batch retried by Meta for
    days: that message is skipped and logged, the rest stored, the POST answered 200."""
    agent = await agent_on(wa)
    event = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    text_change(PNID, "wamid." + "x" * 300, "an id no provider sends"),
                    text_change(PNID, "wamid.after", "after the odd one"),
                ],
            }
        ],
    }
    body = json.dumps(event).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{wa.base_url}/webhooks/whatsapp/tp_wa", content=body, headers=meta_signed(body)
        )
    assert r.status_code == 200, r.text
    await inbox_conversation(agent, "whatsapp", last_message="after the odd one")
    assert "not taken" in wa.output()


async def test_a_signed_but_malformed_message_is_a_422_never_a_500(
    wa: services.GatewayProcess,
) -> None:
    url = f"{wa.base_url}/webhooks/whatsapp/tp_wa"
    deep = (
        json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [text_change(PNID, "wamid.d", "x")]}],
            }
        )
        .encode()
        .replace(b'{"body": "x"}', b"[" * 100_000 + b"]" * 100_000)
    )
    change = text_change(PNID, "wamid.s", "x")
    change["value"]["messages"][0]["text"] = "a string, not an object"  # type: ignore[index]
    string = json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}
    ).encode()
    async with httpx.AsyncClient() as http:
        for body in (deep, string):
            r = await http.post(url, content=body, headers=meta_signed(body))
            assert r.status_code == 422, r.text
        r = await http.post(url, content=string, headers=meta_signed(string))
    assert "messages[0]" in r.json()["error"]["message"]
    assert "Traceback" not in wa.output()


async def test_a_status_from_another_apps_number_changes_nothing(
    gateway_factory: Factory, whatsapp: EmulatorClient
) -> None:
    """A status found by its wamid alone (no callback data) counts only for a message
    the number's own touchpoint sent: another Meta app's signed webhook cannot fail a
    message it did not send."""
    other_secret = "another-apps-secret"
    other = whatsapp_touchpoint("tp_other", "200000000000001", "+14155550112", whatsapp.base_url)
    other = msgspec.structs.replace(other, settings={**other.settings, "app_secret": other_secret})
    node = start(
        gateway_factory, whatsapp_touchpoint("tp_wa", PNID, NUMBER, whatsapp.base_url), other
    )
    await whatsapp.configure(
        numbers={
            PNID: {
                "display_phone_number": NUMBER,
                "token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": f"{node.base_url}/webhooks/whatsapp/tp_wa",
            }
        }
    )
    agent = await agent_on(node)
    cid = str((await taken(agent, whatsapp))["conversation_id"])
    ack = await agent.say(cid, "Olá!")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered")
    [sent] = await whatsapp.sent(1)

    def failed_status(pnid: str) -> dict[str, object]:
        return {
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"phone_number_id": pnid},
                "statuses": [{"id": sent["id"], "status": "failed", "errors": [{"code": 131026}]}],
            },
        }

    async with httpx.AsyncClient() as http:
        for tp_id, pnid, secret, expected in (
            ("tp_other", "200000000000001", other_secret, "delivered"),
            ("tp_wa", PNID, APP_SECRET, "failed"),
        ):
            body = json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [{"changes": [failed_status(pnid)]}],
                }
            ).encode()
            r = await http.post(
                f"{node.base_url}/webhooks/whatsapp/{tp_id}",
                content=body,
                headers=meta_signed(body, secret),
            )
            assert r.status_code == 200, r.text
            [mine] = [m for m in await history(agent, cid) if m.get("seq") == ack["seq"]]
            assert mine["delivery"] == expected, tp_id


async def test_an_outbound_only_number_takes_no_new_conversation_and_fails_no_batch(
    gateway_factory: Factory,
) -> None:
    """An admin may set a WhatsApp touchpoint's direction to outbound (agents cannot
    start conversations on WhatsApp, so contacts can never answer one): a contact's
    message to it is not taken and the admins are told; the POST is answered 200 and
    the rest of the batch (another number of the app) is stored. Before, the message
    was a 403 for the whole batch, which Meta retried with the same outcome for days,
    and the other number's message after it was never stored."""
    out_pnid = "200000000000009"
    node = start(
        gateway_factory,
        whatsapp_touchpoint(
            "tp_out", out_pnid, "+14155550119", "http://127.0.0.1:9", direction="outbound"
        ),
        whatsapp_touchpoint("tp_wa", PNID, NUMBER, "http://127.0.0.1:9"),
    )
    admin = await agent_on(node, ("admin@demo.test", "demo-admin"))
    agent = await agent_on(node)
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"changes": [text_change(out_pnid, "wamid.out", "Anyone there?")]},
                {"changes": [text_change(PNID, "wamid.in", "Hello!")]},
            ],
        }
    ).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{node.base_url}/webhooks/whatsapp/tp_out", content=body, headers=meta_signed(body)
        )
    assert r.status_code == 200, r.text
    conv = await inbox_conversation(agent, "whatsapp", last_message="Hello!")
    assert conv["touchpoint_id"] == "tp_wa"
    assert admin.sock
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "sending_refused" and notice["touchpoint_id"] == "tp_out"
    assert "outbound-only" in notice["message"] and WA_ID not in notice["message"]
    fresh = await agent_on(node)
    rows = [c for c in fresh.snapshot["inbox"] if c["channel"] == "whatsapp"]
    assert [c["touchpoint_id"] for c in rows] == ["tp_wa"]
