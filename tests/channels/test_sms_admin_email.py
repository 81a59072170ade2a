"""An SMS the provider refuses because the touchpoint's toll-free number is unverified
(Twilio 30032, from the Twilio emulator over real HTTP) notifies the admins as the
reference says: the in-app notice and an email to every active admin, sent through the
gateway's email touchpoint to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable

from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.channels.conftest import Emulators, fresh
from tests.channels.email.mail import SmtpServer, admins_mail
from tests.channels.support import (
    ACCOUNT,
    TOKEN,
    admin_get,
    agent_on,
    inbox_conversation,
    sms_touchpoint,
    start,
)
from tests.gateway.conftest import ADMIN

TOLL_FREE = "+18005550100"
PHONE = "+12025550143"


async def test_an_unverified_toll_free_refusal_emails_the_admins(
    gateway_factory: Callable[..., services.GatewayProcess],
    emulators: Emulators,
    dovecot: services.Dovecot,
    smtp: SmtpServer,
) -> None:
    twilio: EmulatorClient = await fresh(emulators, "twilio")
    address, mail_tps = admins_mail(dovecot, smtp)
    node = start(gateway_factory, sms_touchpoint("tp_sms", TOLL_FREE, twilio.base_url), *mail_tps)
    await twilio.configure(
        accounts={ACCOUNT: TOKEN},
        numbers={
            TOLL_FREE: {
                "account": ACCOUNT,
                "sms_url": f"{node.base_url}/webhooks/sms/tp_sms",
                "status": "unverified_tollfree",
            }
        },
    )
    admin = await agent_on(node, ADMIN)
    agent = await agent_on(node)
    await twilio.phone_send(to=TOLL_FREE, body="hi", **{"from": PHONE})
    cid = (await inbox_conversation(agent, "sms"))["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Hello from us")
    assert agent.sock and admin.sock
    failed = await agent.sock.expect("delivery", seq=ack["seq"], status="failed", timeout=15)
    assert "toll-free" in failed["reason"]

    # the in-app notice, live and kept
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "sending_refused" and notice["touchpoint_id"] == "tp_sms"
    assert [n["id"] for n in await admin_get(node, "/api/admin/notices")] == [notice["id"]]

    # and the email: to the active admin, through the email touchpoint's SMTP server
    [mail] = await smtp.recorder.until(1)
    sender, rcpts, _ = smtp.recorder.messages[0]
    assert sender == address and rcpts == [ADMIN[0]] and mail["To"] == ADMIN[0]
    assert mail["Subject"] == f"Action needed: a provider refused to send: SMS {TOLL_FREE}"
    body = mail.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    assert notice["message"] in text and "error 30032" in text and "toll-free" in text

    # the same refusal again: no second notice (one an hour per touchpoint); an email
    # goes only with a notice it made (notify returns None first), so none here: this
    # checks the notice, and the mail received so far (a second would come after it)
    ack2 = await agent.say(cid, "Second try")
    await agent.sock.expect("delivery", seq=ack2["seq"], status="failed", timeout=15)
    assert len(await admin_get(node, "/api/admin/notices")) == 1
    assert len(smtp.recorder.messages) == 1
