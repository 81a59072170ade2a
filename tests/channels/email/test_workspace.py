"""The agent's workspace on an email conversation, against real Dovecot and aiosmtpd:
a template's email text, rendered for the sender and the agent, goes out as the reply;
the sender's address is the contact's email on the card, not yet saved."""

from __future__ import annotations

from devkit import services
from gateway import protocol as p
from gateway.model.records import Template
from gateway.services import templates
from tests.channels.email.conftest import NodeFactory, email_channel, setup_touchpoint
from tests.channels.email.mail import SmtpServer, an_email, deliver
from tests.channels.email.test_flow import ready


async def test_an_email_template_is_the_reply_and_the_sender_is_on_the_card(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    await node.store.put_template(
        Template(
            id="tm_order",
            collection="Support",
            name="Order status",
            content={
                "default": "Hi {{contact.first_name}}! Shipped.",
                "email": "Dear {{contact.name}},\n\nyour order left us today"
                " ({{contact.email}}).\n\n{{agent.name}}",
            },
        )
    )
    receiver = await ready(email_channel(node))
    await deliver(dovecot, address, an_email(to=address, message_id="<q@customer.example>"))
    await receiver.until_imported(1)
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    agent = node.agents.agent("ag")
    await node.desk.act(agent, p.Assign(conversation_id=conv.id))

    card = await node.workspace.cards.card(agent, conv.id)
    assert card.contact.email == "casey@customer.example" and not card.contact.saved

    contact = await node.store.get_contact(conv.contact_id)
    [rendered] = templates.for_conversation(await node.store.list_templates(), conv, contact, agent)
    name = contact.display_name
    assert rendered.text == (
        f"Dear {name},\n\nyour order left us today (casey@customer.example).\n\nAda"
    )
    conv = await node.conversations.get(conv.id)
    await node.desk.send(agent, conv, "tpl-1", rendered.text)
    messages = await smtp.recorder.until(1)
    text = messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "your order left us today (casey@customer.example)." in text
