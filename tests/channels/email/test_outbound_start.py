"""A new outbound email conversation (the agent writes first), against real Dovecot and
aiosmtpd: the email goes out with the subject the agent gave and no thread headers, the
conversation is the agent's at once, and the customer's reply threads back into it."""

from __future__ import annotations

import pytest

from devkit import services
from gateway.errors import InvalidInput
from tests.channels.email.conftest import NodeFactory, email_channel, setup_touchpoint
from tests.channels.email.mail import SmtpServer, an_email, deliver
from tests.channels.email.test_flow import _delivered, ready


async def test_an_agent_emails_first_and_the_reply_threads_back(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    agent = node.agents.agent("ag")
    with pytest.raises(InvalidInput) as no_subject:
        await node.outbound.start(agent, "tp_mail", "dana@customer.example", "m-0", "Hi")
    assert no_subject.value.fields[0][0] == "content.subject"
    with pytest.raises(InvalidInput):
        await node.outbound.start(
            agent, "tp_mail", "not an address", "m-0", "Hi", {"subject": "Hello"}
        )
    assert await node.store.list_conversations(touchpoint_id="tp_mail") == []

    conv, ack = await node.outbound.start(
        agent,
        "tp_mail",
        "Dana@Customer.Example",
        "m-1",
        "Your renewal is due next week.",
        {"subject": "Your renewal", "cc": ["finance@customer.example"]},
    )
    assert conv.state == "assigned" and conv.owner_agent_id == "ag"
    assert conv.address == "Dana@customer.example"  # the domain normalised, as validated
    stored = await _delivered(node, conv.id, ack.seq)
    assert stored.delivery == "sent"
    [first] = await smtp.recorder.until(1)
    assert first["Subject"] == "Your renewal" and first["To"] == "Dana@customer.example"
    assert first["Cc"] == "finance@customer.example"
    assert "In-Reply-To" not in first and "Auto-Submitted" not in first

    await deliver(
        dovecot,
        address,
        an_email(sender="Dana@customer.example", to=address, subject="Re: Your renewal",
                 message_id="<answer@customer.example>", in_reply_to=first["Message-ID"],
                 text="Thanks, I will renew."),
    )  # fmt: skip
    await receiver.until_imported(1)
    assert [c.id for c in await node.store.list_conversations(touchpoint_id="tp_mail")] == [conv.id]
