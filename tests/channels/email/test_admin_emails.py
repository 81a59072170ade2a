"""What the email channel sends the admins and its signature, against real servers (Dovecot,
aiosmtpd): a lost connection emails every active admin; the 14-day OAuth re-check
reminder emails them once per period; an admin notice given with ``email`` goes out
through a connected email touchpoint (or not at all when none can send); the signature
is on an agent-started email and on a reply while enabled, on neither while disabled."""

from __future__ import annotations

import asyncio
import dataclasses
from email.message import EmailMessage

import pytest

from channels.email import api
from devkit import services
from gateway import protocol as p
from gateway.app import Node
from gateway.model.records import Agent
from tests.channels.email.conftest import NodeFactory, email_channel, setup_touchpoint
from tests.channels.email.mail import SmtpServer, an_email, deliver, new_mailbox
from tests.channels.email.test_flow import _delivered, ready
from tests.channels.email.test_oauth2_imap import (  # noqa: F401 - fixtures of these tests too
    Introspection,
    introspection,
    oauth_dovecot,
)

ADMINS = ["grace@admins.test", "linus@admins.test"]


async def _more_admins(node: Node) -> None:
    """A second active admin and an inactive one (who gets nothing), beside the
    fixture's Grace (the touchpoint's set-up loads them)."""
    store = node.store
    await store.put_agent(Agent(id="adm2", email=ADMINS[1], name="Linus", role="admin"))
    await store.put_agent(
        Agent(id="adm3", email="gone@admins.test", name="Gone", role="admin", active=False)
    )


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_a_lost_connection_emails_every_active_admin(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await _more_admins(node)
    # Dovecot refuses this password (the mailbox's is "secret"); the SMTP server takes it
    await setup_touchpoint(node, dovecot, smtp, address, password="changed-by-the-owner")
    [mail] = await smtp.recorder.until(1)
    sender, rcpts, _ = smtp.recorder.messages[0]
    assert sender == address and sorted(rcpts) == ADMINS
    assert sorted(a.strip() for a in mail["To"].split(",")) == ADMINS
    assert mail["Subject"] == f"{api.LOST_NOTICE}: Support"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"] and mail["Message-ID"].endswith(f"@{address.rpartition('@')[2]}>")
    assert "credentials" in _body(mail) and "/api/admin/touchpoints/tp_mail/email" in _body(mail)
    conn = await node.channel_state.connection("tp_mail")
    assert conn is not None and conn.status == "lost"


async def test_the_oauth_recheck_reminder_emails_the_admins_once_per_period(
    make_node: NodeFactory,
    oauth_dovecot: services.Dovecot,  # noqa: F811
    introspection: Introspection,  # noqa: F811
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, _ = new_mailbox(oauth_dovecot)
    introspection.tokens["good-token"] = address  # the SMTP server takes it too
    node = await make_node()
    await _more_admins(node)
    await setup_touchpoint(
        node, oauth_dovecot, smtp, address, auth="oauth2", oauth_token="good-token"
    )
    channel = email_channel(node)
    await ready(channel)
    conn = await node.channel_state.connection("tp_mail")
    assert conn is not None and conn.status == "connected" and conn.connected_at is not None
    due = api.recheck_due_at(conn, "oauth2")
    assert due == conn.connected_at + 14 * 86400

    assert await channel.remind_due() == []  # not due yet: nothing sent
    assert smtp.recorder.messages == []

    def at(when: float) -> None:
        """The node's clock moved on: the adapter's and the one the reminder is marked
        with (one clock in production)."""
        monkeypatch.setattr(channel, "core", dataclasses.replace(channel.core, clock=lambda: when))
        monkeypatch.setattr(node.channel_state, "_clock", lambda: when)

    at(due + 1)
    assert await channel.remind_due() == ["tp_mail"]
    [(_, rcpts, mail)] = smtp.recorder.messages
    assert sorted(rcpts) == ADMINS
    assert mail["Subject"] == api.RECHECK_NOTICE
    assert f"{api.RECHECK_NOTICE}: Support" in _body(mail)
    conn = await node.channel_state.connection("tp_mail")
    assert conn is not None and conn.reminded_at is not None
    next_due = api.recheck_due_at(conn, "oauth2")
    assert next_due == due + 1 + 14 * 86400

    # reminded: again before the next due date sends nothing
    assert await channel.remind_due() == []
    at(next_due - 60)
    assert await channel.remind_due() == []
    assert len(smtp.recorder.messages) == 1
    at(next_due + 1)
    assert await channel.remind_due() == ["tp_mail"]
    assert len(smtp.recorder.messages) == 2


async def test_an_emailed_notice_goes_out_through_a_connected_touchpoint(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await _more_admins(node)
    await setup_touchpoint(node, dovecot, smtp, address)
    await ready(email_channel(node))
    notice = await node.notices.notify(
        "sending_refused",
        "SMS touchpoint X: verify the number",
        touchpoint_id="tp_mail",
        email=True,
    )
    assert notice is not None  # given at once: the email goes in the background
    await smtp.recorder.until(1)
    [(sender, rcpts, mail)] = smtp.recorder.messages
    assert sender == address and sorted(rcpts) == ADMINS
    assert mail["Subject"] == "Action needed: a provider refused to send: Support"
    assert "SMS touchpoint X: verify the number" in _body(mail)
    # a notice without ``email`` is not emailed; neither is one when no touchpoint can send
    await node.notices.notify("sending_refused", "in-app only", touchpoint_id="tp_mail")
    await node.channel_state.set_connection("tp_mail", "lost", "test")
    _, lost = await smtp.recorder.until(2)  # the lost connection's own email
    assert lost["Subject"] == f"{api.LOST_NOTICE}: Support"
    await node.notices.notify(
        "sending_refused", "nobody to send it", touchpoint_id="tp_mail", email=True
    )
    await asyncio.gather(*node.notices._mailing)
    assert len(smtp.recorder.messages) == 2
    listed = [n.message for n in await node.store.list_notices(limit=10)]
    assert "nobody to send it" in listed and "in-app only" in listed


@pytest.mark.parametrize("enabled", [False, True])
async def test_the_signature_on_started_and_reply_emails(
    make_node: NodeFactory,
    dovecot: services.Dovecot,
    smtp: SmtpServer,
    mailbox: tuple[str, str],
    enabled: bool,
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(
        node,
        dovecot,
        smtp,
        address,
        signature={"enabled": enabled, "html": "<p>{{agent.name}} &middot; SIGNED</p>"},
    )
    channel = email_channel(node)
    receiver = await ready(channel)
    agent = node.agents.agent("ag")

    # the agent writes first (outbound)
    conv, ack = await node.outbound.start(
        agent, "tp_mail", "dana@customer.example", "m-1", "Your renewal is due.",
        {"subject": "Your renewal"},
    )  # fmt: skip
    assert (await _delivered(node, conv.id, ack.seq)).delivery == "sent"
    # and answers a customer's email (a reply)
    await deliver(dovecot, address, an_email(to=address, message_id="<q@customer.example>"))
    await receiver.until_imported(1)
    [other] = [
        c for c in await node.store.list_conversations(touchpoint_id="tp_mail") if c.id != conv.id
    ]
    await node.desk.act(agent, p.Assign(conversation_id=other.id))
    other = await node.conversations.get(other.id)
    reply_ack = await node.desk.send(agent, other, "reply-1", "It left today.")
    assert (await _delivered(node, other.id, reply_ack.seq)).delivery == "sent"

    started, reply = await smtp.recorder.until(2)
    assert started["Subject"] == "Your renewal" and "In-Reply-To" not in started
    assert reply["In-Reply-To"] == "<q@customer.example>"
    for mail in (started, reply):
        html = mail.get_body(("html",))
        assert html is not None
        html_text = str(html.get_content())
        if enabled:
            assert "-- \r\nAda · SIGNED" in _body(mail)  # the agent's name filled in
            assert "Ada" in html_text and "SIGNED" in html_text
        else:
            assert "SIGNED" not in _body(mail) and "SIGNED" not in html_text
