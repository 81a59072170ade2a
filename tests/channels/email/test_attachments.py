"""Email attachments through the attachments service, against real Dovecot and aiosmtpd
(docs/channels/email.md "Attachments"): a customer's files of the reference's types
are stored with the message, within 25 MB per email; anything else reaches the agent as
the automatic notice (a ``notice`` event); an agent's files go out as the email's
attachments, and the email rule refuses at upload what the channel cannot carry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest

from devkit import services
from gateway import protocol as p
from gateway.errors import FileRefused, FileTooLarge
from tests.attachments import files
from tests.channels.email.conftest import NodeFactory, email_channel, setup_touchpoint
from tests.channels.email.mail import SmtpServer, deliver
from tests.channels.email.test_flow import _delivered, ready


def with_files(to: str, message_id: str, *attached: tuple[str, str, bytes]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Casey Customer <casey@customer.example>"
    msg["To"] = to
    msg["Subject"] = "The documents"
    msg["Message-ID"] = message_id
    msg.set_content("Please find them attached.")
    for name, ctype, data in attached:
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return bytes(msg)


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_attachments_both_ways_and_the_notice_for_the_rest(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    doc = files.pdf(20_000)
    await deliver(
        dovecot,
        address,
        with_files(
            address,
            "<files@customer.example>",
            ("contract.pdf", "application/pdf", doc),
            ("setup.exe", "application/octet-stream", b"MZ" + b"\0" * 100),
            ("photo.png", "image/png", files.png()),
        ),
    )
    await receiver.until_imported(1)
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    agent = node.agents.agent("ag")
    await node.desk.act(agent, p.Assign(conversation_id=conv.id))
    conv = await node.conversations.get(conv.id)
    page = await node.conversations.history(conv, None, 50)
    messages = [i for i in page.items if isinstance(i, p.MessageOut)]
    events = [i for i in page.items if isinstance(i, p.EventOut) and i.event == "notice"]
    [message] = messages
    assert message.body == "Please find them attached."
    assert sorted(a.name for a in message.attachments) == ["contract.pdf", "photo.png"]
    [notice] = events
    assert "setup.exe" in notice.text and "not accepted" in notice.text
    pdf = next(a for a in message.attachments if a.name == "contract.pdf")
    blob = await node.attachments.read(await node.attachments.get(pdf.id))
    assert b"".join([c async for c in blob.chunks]) == doc

    # the agent's file goes out as an attachment of the threaded reply
    conv = await node.conversations.get(conv.id)
    sent_pdf = files.pdf(30_000)
    upload = await node.desk.upload(agent, conv.id, "quote.pdf", one(sent_pdf), len(sent_pdf))
    ack = await node.desk.send(agent, conv, "r-1", "Here is the quote.", attachments=[upload.id])
    stored = await _delivered(node, conv.id, ack.seq)
    assert stored.delivery == "sent"
    [reply] = await smtp.recorder.until(1)
    assert reply["In-Reply-To"] == "<files@customer.example>"
    [part] = list(reply.iter_attachments())  # type: ignore[attr-defined]
    assert part.get_filename() == "quote.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_content() == sent_pdf

    # the email rule: not a listed type, or over 25 MB, refused at upload with the reason
    with pytest.raises(FileRefused) as refused:
        await node.desk.upload(agent, conv.id, "tool.zip", one(files.zip_bytes()), None)
    assert "zip" in refused.value.public_message.lower()
    big = files.pdf(25 * 1024 * 1024)
    with pytest.raises(FileTooLarge):
        await node.desk.upload(agent, conv.id, "big.pdf", one(big), len(big))


async def test_an_email_of_only_refused_files_is_the_notice(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    raw = with_files(address, "<bomb@customer.example>", ("b.zip", "application/zip", b"PK"))
    raw = raw.replace(b"Please find them attached.\n", b"")
    await deliver(dovecot, address, raw)
    await receiver.until_imported(1)
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    agent = node.agents.agent("ag")
    await node.desk.act(agent, p.Assign(conversation_id=conv.id))
    conv = await node.conversations.get(conv.id)
    page = await node.conversations.history(conv, None, 50)
    notices = [i for i in page.items if isinstance(i, p.EventOut) and i.event == "notice"]
    assert len(notices) == 1 and "b.zip" in notices[0].text
    assert [i for i in page.items if isinstance(i, p.MessageOut)] == []
