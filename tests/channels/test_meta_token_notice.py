"""A WhatsApp or Messenger reply refused because Meta no longer takes the touchpoint's
access token (Graph error 190, from the emulators over real HTTP) fails for the agent,
gives the admins a notice (kept, and live) and emails every active admin through the
gateway's email touchpoint to a real SMTP server (aiosmtpd): only an admin can set a new
token, and until then every reply on the touchpoint fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devkit import services
from tests.channels.conftest import Emulators, fresh
from tests.channels.email.mail import SmtpServer, admins_mail
from tests.channels.support import (
    APP_SECRET,
    admin_get,
    agent_on,
    inbox_conversation,
    messenger_touchpoint,
    start,
    whatsapp_touchpoint,
)
from tests.gateway.conftest import ADMIN

PNID, NUMBER, WA_ID = "106540352242922", "+14155550111", "447911123456"
PAGE, PSID = "1029384756", "24012345678901234"
NEW_TOKEN = "a-token-the-touchpoint-was-never-given"


@pytest.mark.parametrize("channel", ["whatsapp", "messenger"])
async def test_a_refused_access_token_is_a_notice_and_an_email_to_the_admins(
    channel: str,
    gateway_factory: Callable[..., services.GatewayProcess],
    emulators: Emulators,
    dovecot: services.Dovecot,
    smtp: SmtpServer,
) -> None:
    meta = await fresh(emulators, channel)
    _, mail_tps = admins_mail(dovecot, smtp)
    tp = (
        whatsapp_touchpoint("tp_meta", PNID, NUMBER, meta.base_url)
        if channel == "whatsapp"
        else messenger_touchpoint("tp_meta", PAGE, meta.base_url)
    )
    node = start(gateway_factory, tp, *mail_tps)
    hook = f"{node.base_url}/webhooks/{channel}/tp_meta"
    admin = await agent_on(node, ADMIN)
    agent = await agent_on(node)
    # Meta takes only a token the touchpoint does not have (revoked, or a page reconnected)
    if channel == "whatsapp":
        await meta.configure(
            numbers={
                PNID: {
                    "display_phone_number": NUMBER,
                    "token": NEW_TOKEN,
                    "app_secret": APP_SECRET,
                    "webhook_url": hook,
                }
            }
        )
        await meta.phone_send(phone_number_id=PNID, name="Ana", body="Olá", **{"from": WA_ID})
    else:
        await meta.configure(
            pages={
                PAGE: {
                    "token": NEW_TOKEN,
                    "app_secret": APP_SECRET,
                    "name": "demoshop",
                    "webhook_url": hook,
                }
            }
        )
        await meta.phone_send(page_id=PAGE, psid=PSID, text="Hi there")
    cid = (await inbox_conversation(agent, channel, place="inbox"))["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Hello from us")
    assert agent.sock and admin.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="failed", timeout=20)

    # the notice, live and kept
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "provider_error" and notice["touchpoint_id"] == "tp_meta"
    assert "error 190" in notice["message"]
    assert [n["id"] for n in await admin_get(node, "/api/admin/notices")] == [notice["id"]]

    # and the email to the active admin, through the email touchpoint's SMTP server
    [mail] = await smtp.recorder.until(1)
    assert mail["To"] == ADMIN[0]
    assert mail["Subject"] == f"Action needed: a provider error: {tp.name}"
    body = mail.get_body(("plain",))
    assert body is not None and notice["message"] in str(body.get_content())
