"""Files on the messaging channels, both ways, against the provider emulators over real
HTTP (docs/attachments.md, "Files on messaging channels"): a contact's media are
downloaded with the provider's credentials (Twilio's basic auth on MediaUrl; Meta's
media id, then its URL with the bearer token; Messenger's signed CDN URL) into the
attachments service; an agent's files go out as links the provider fetches, signed
for that provider and file; each channel's rules refuse what its provider would not
take, with a clear error, and what cannot be passed on reaches the agent as a notice."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import httpx
import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.attachments import files
from tests.attachments.test_gateway import agent_upload, links
from tests.channels.support import (
    ACCOUNT,
    APP_SECRET,
    PAGE_TOKEN,
    TOKEN,
    WA_TOKEN,
    agent_on,
    history,
    inbox_conversation,
    messenger_touchpoint,
    send_files,
    sms_touchpoint,
    start,
    whatsapp_touchpoint,
)
from tests.gateway.client import AgentClient

Factory = Callable[..., services.GatewayProcess]
US_LINE, UK_LINE = "+14155550100", "+447911123000"
US_PHONE, UK_PHONE = "+12025550143", "+447911123456"
PNID, WA_NUMBER, WA_ID = "106540352242922", "+14155550111", "447911123456"
PAGE, PSID = "1029384756", "24012345678901234"


def medium(data: bytes, content_type: str, **more: str) -> dict[str, str]:
    return {"content_type": content_type, "data": base64.b64encode(data).decode(), **more}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def contact_file(node: services.GatewayProcess, agent: AgentClient, cid: str) -> bytes:
    """The bytes of the file of the contact's last message with one, as the agent reads it."""
    items = await history(agent, cid)
    [att] = [a for i in items if i["type"] == "message" for a in i.get("attachments", [])][-1:]
    assert agent.sock
    got = await links(agent.sock, [att["id"]], cid)
    async with httpx.AsyncClient() as http:
        r = await http.get(node.base_url + got["links"][att["id"]]["url"])
    assert r.status_code == 200
    return r.content


# -- SMS / MMS ---------------------------------------------------------------------------


@pytest.fixture
async def sms(gateway_factory: Factory, twilio: EmulatorClient) -> services.GatewayProcess:
    node = start(
        gateway_factory,
        sms_touchpoint("tp_us", US_LINE, twilio.base_url),
        sms_touchpoint("tp_uk", UK_LINE, twilio.base_url),
    )
    await twilio.configure(
        accounts={ACCOUNT: TOKEN},
        numbers={
            n: {"account": ACCOUNT, "sms_url": f"{node.base_url}/webhooks/sms/{tp}", "status": "ok"}
            for tp, n in (("tp_us", US_LINE), ("tp_uk", UK_LINE))
        },
    )
    return node


async def test_mms_both_ways_with_the_providers_credentials_and_signed_links(
    sms: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(sms)
    doc = files.pdf(3000)
    await twilio.phone_send(
        to=US_LINE,
        body="My receipt",
        media=[medium(doc, "application/pdf"), medium(files.zip_bytes(), "application/zip")],
        **{"from": US_PHONE},
    )
    conv = await inbox_conversation(agent, "sms", last_message="My receipt")
    cid = str(conv["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    # the PDF was fetched behind Twilio's basic auth and stored; the ZIP, which MMS
    # does not carry, is the agent's notice
    assert await contact_file(sms, agent, cid) == doc
    items = await history(agent, cid)
    [message] = [i for i in items if i["type"] == "message"]
    assert message["body"] == "My receipt" and message["attachments"][0]["name"] == "mms-1.pdf"
    [notice] = [i for i in items if i["type"] == "event" and i["event"] == "notice"]
    assert "mms-2" in notice["text"]
    # without the account's credentials the media URL is refused (what the adapter avoids)
    hooks = await twilio.webhooks()
    assert hooks and all(h["delivered"] for h in hooks)

    # the agent's file goes out as the message's MediaUrl, which Twilio fetches
    r = await agent_upload(agent, cid, "invoice.pdf", files.pdf(5000))
    assert r.status_code == 201, r.text
    ack = await send_files(agent, cid, "Your invoice", [r.json()["attachment"]["id"]], "mms-out")
    assert ack["type"] == "ack"
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=20)
    [sent] = await twilio.sent(1)
    assert sent["Body"] == "Your invoice" and len(sent["MediaUrl"]) == 1
    assert sent["media"][0]["sha256"] == sha(files.pdf(5000))
    assert sent["media"][0]["content_type"] == "application/pdf"
    # the link is for Twilio and this file only: changed, or read as another reader, 401
    link = sent["MediaUrl"][0]
    assert link.startswith(sms.base_url + "/files/")
    async with httpx.AsyncClient() as http:
        assert (await http.get(link)).status_code == 200
        assert (await http.get(link.replace("r=p%3Asms", "r=p%3Awhatsapp"))).status_code == 401
        assert (await http.get(link.replace("&e=", "&e=1"))).status_code == 401


async def test_mms_outside_us_ca_au_is_refused_before_upload_and_inbound_is_a_notice(
    sms: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(sms)
    await twilio.phone_send(
        to=UK_LINE, body="photo", media=[medium(files.png(), "image/png")], **{"from": UK_PHONE}
    )
    conv = await inbox_conversation(agent, "sms", last_message="photo")
    cid = str(conv["conversation_id"])
    assert "attachments" not in conv["channel_state"]  # False: omitted
    assert "US" in conv["channel_state"]["attachments_reason"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    items = await history(agent, cid)
    [notice] = [i for i in items if i["type"] == "event" and i["event"] == "notice"]
    assert "MMS" in notice["text"]
    assert all(not i.get("attachments") for i in items if i["type"] == "message")
    r = await agent_upload(agent, cid, "a.pdf", files.pdf())
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "attachments_unavailable" and "US" in error["message"]


async def test_mms_limits_are_the_rules_clear_refusal(
    sms: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(sms)
    await twilio.phone_send(to=US_LINE, body="hi", **{"from": US_PHONE})
    cid = str((await inbox_conversation(agent, "sms", last_message="hi"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    r = await agent_upload(agent, cid, "notes.zip", files.zip_bytes())
    assert r.status_code == 415 and r.json()["error"]["code"] == "file_type_refused"
    r = await agent_upload(agent, cid, "big.pdf", files.pdf(5 * 1024 * 1024 + 1))
    assert r.status_code in (413, 422), r.text
    assert await twilio.sent() == []


# -- WhatsApp ----------------------------------------------------------------------------


@pytest.fixture
async def wa(gateway_factory: Factory, whatsapp: EmulatorClient) -> services.GatewayProcess:
    node = start(gateway_factory, whatsapp_touchpoint("tp_wa", PNID, WA_NUMBER, whatsapp.base_url))
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
    return node


async def test_whatsapp_media_by_id_and_bearer_and_documents_by_link(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    doc = files.pdf(4000)
    await whatsapp.phone_send(
        phone_number_id=PNID,
        name="Ana Lima",
        media=medium(doc, "application/pdf", kind="document", name="contrato.pdf", caption="Olá"),
        **{"from": WA_ID},
    )
    conv = await inbox_conversation(agent, "whatsapp", last_message="Olá")
    cid = str(conv["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    assert await contact_file(wa, agent, cid) == doc
    items = await history(agent, cid)
    [message] = [i for i in items if i["type"] == "message"]
    assert message["body"] == "Olá" and message["attachments"][0]["name"] == "contrato.pdf"
    # the media URL is the token's only
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{whatsapp.base_url}/v21.0/00000001")
        assert r.status_code == 401

    # a document with a caption: one message; an image and a longer text: two, in order
    r = await agent_upload(agent, cid, "resposta.pdf", files.pdf(6000))
    ack = await send_files(agent, cid, "Segue", [r.json()["attachment"]["id"]], "wa-doc")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=20)
    [sent] = await whatsapp.sent(1)
    assert sent["type"] == "document"
    assert sent["document"]["caption"] == "Segue"
    assert sent["document"]["filename"] == "resposta.pdf"
    assert sent["media"]["sha256"] == sha(files.pdf(6000))
    long_text = "x" * 1100  # over the 1,024-character caption
    r = await agent_upload(agent, cid, "foto.png", files.png())
    ack = await send_files(agent, cid, long_text, [r.json()["attachment"]["id"]], "wa-img")
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=20)
    sent_all = await whatsapp.sent(3)
    assert [s["type"] for s in sent_all[1:]] == ["text", "image"]
    assert sent_all[1]["text"]["body"] == long_text and "caption" not in sent_all[2]["image"]
    assert sent_all[2]["media"]["content_type"] == "image/png"
    inbox = await whatsapp._call("GET", f"/_emulator/phone/{WA_ID}/inbox")
    assert [m["type"] for m in inbox] == ["document", "text", "image"]


async def test_whatsapp_refusals_and_unusable_content(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    agent = await agent_on(wa)
    await whatsapp.phone_send(phone_number_id=PNID, name="Ana", body="oi", **{"from": WA_ID})
    cid = str((await inbox_conversation(agent, "whatsapp", last_message="oi"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    # a GIF is not a WhatsApp medium: refused at upload, saying what is accepted
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    r = await agent_upload(agent, cid, "anim.gif", gif)
    assert r.status_code == 415 and r.json()["error"]["code"] == "file_type_refused"
    # a location, and a medium whose id the provider no longer has: the agent's notice
    assert agent.sock
    await whatsapp.phone_send(
        phone_number_id=PNID,
        name="Ana",
        id="wamid.loc",
        message={"type": "location", "location": {"latitude": 1, "longitude": 2}},
        **{"from": WA_ID},
    )
    notice = await agent.sock.expect("event", conversation_id=cid, event="notice")
    assert "location" in notice["text"]
    await whatsapp.phone_send(
        phone_number_id=PNID,
        name="Ana",
        id="wamid.gone",
        message={"type": "image", "image": {"id": "99999999", "mime_type": "image/jpeg"}},
        **{"from": WA_ID},
    )
    notice = await agent.sock.expect("event", conversation_id=cid, event="notice")
    assert "could not be fetched" in notice["text"]
    items = await history(agent, cid)
    assert [i["body"] for i in items if i["type"] == "message"] == ["oi"]
    assert await whatsapp.sent() == []


# -- Messenger ---------------------------------------------------------------------------


@pytest.fixture
async def page(gateway_factory: Factory, messenger: EmulatorClient) -> services.GatewayProcess:
    node = start(gateway_factory, messenger_touchpoint("tp_page", PAGE, messenger.base_url))
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


async def test_messenger_attachments_both_ways(
    page: services.GatewayProcess, messenger: EmulatorClient
) -> None:
    agent = await agent_on(page)
    doc = files.pdf(2500)
    await messenger.phone_send(
        page_id=PAGE,
        psid=PSID,
        text="the form",
        media=[medium(doc, "application/pdf", kind="file", name="form.pdf")],
    )
    conv = await inbox_conversation(agent, "messenger", last_message="the form")
    cid = str(conv["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    assert await contact_file(page, agent, cid) == doc
    [message] = [i for i in await history(agent, cid) if i["type"] == "message"]
    assert message["attachments"][0]["name"] == "form.pdf"
    # a sticker is the agent's notice
    assert agent.sock
    await messenger.phone_send(
        page_id=PAGE,
        psid=PSID,
        message={"attachments": [{"type": "image", "payload": {"sticker_id": 369239263222822,
                                                                "url": "https://x.invalid/s.png"}}]},
    )  # fmt: skip
    notice = await agent.sock.expect("event", conversation_id=cid, event="notice")
    assert "sticker" in notice["text"]

    # the agent's text and file: two sends, the text first, the file by a link
    r = await agent_upload(agent, cid, "signed.pdf", files.pdf(7000))
    ack = await send_files(agent, cid, "Signed copy", [r.json()["attachment"]["id"]], "m-out")
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=20)
    sent = await messenger.sent(2)
    assert sent[0]["message"] == {"text": "Signed copy"}
    attachment = sent[1]["message"]["attachment"]
    assert attachment["type"] == "file" and attachment["payload"]["is_reusable"] is False
    assert sent[1]["media"]["sha256"] == sha(files.pdf(7000))


async def test_a_failed_part_is_retried_without_sending_the_first_again(
    page: services.GatewayProcess, messenger: EmulatorClient
) -> None:
    agent = await agent_on(page)
    await messenger.phone_send(page_id=PAGE, psid=PSID, text="hello")
    cid = str(
        (await inbox_conversation(agent, "messenger", last_message="hello"))["conversation_id"]
    )
    assert (await agent.act("assign", cid))["type"] == "ok"
    r = await agent_upload(agent, cid, "a.pdf", files.pdf(100))
    # the text goes, the file's first attempt meets a 503: the retry sends only the file
    await messenger.fail(503, after=1)
    ack = await send_files(agent, cid, "text then file", [r.json()["attachment"]["id"]], "m-2")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=30)
    sent = await messenger.sent(3)
    assert [("text" in s["message"], s.get("refused")) for s in sent] == [
        (True, None),
        (False, 503),
        (False, None),
    ]


async def test_a_whatsapp_part_failing_after_the_first_was_delivered_is_retried(
    wa: services.GatewayProcess, whatsapp: EmulatorClient
) -> None:
    """A long text and an image are two sends. The text's statuses (sent, delivered)
    come while the image's first attempt meets a 503: they are not the message's (its
    last part's are), so the message stays a pending job and the image goes on the
    retry; before, the text's "delivered" ended the job and the image was never sent,
    while the agent read "delivered"."""
    agent = await agent_on(wa)
    await whatsapp.phone_send(phone_number_id=PNID, name="Ana", body="oi", **{"from": WA_ID})
    cid = str((await inbox_conversation(agent, "whatsapp", last_message="oi"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    r = await agent_upload(agent, cid, "foto.png", files.png())
    await whatsapp.fail(503, after=1)
    ack = await send_files(agent, cid, "x" * 1100, [r.json()["attachment"]["id"]], "wa-2")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=30)
    sent = await whatsapp.sent(3, timeout=30)
    assert [(s["type"], s.get("refused")) for s in sent] == [
        ("text", None),
        ("image", 503),
        ("image", None),
    ]
    inbox = await whatsapp._call("GET", f"/_emulator/phone/{WA_ID}/inbox")
    assert [m["type"] for m in inbox] == ["text", "image"]
