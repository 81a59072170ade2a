"""The email channel end to end, against real servers: Dovecot (IMAP, IDLE) and aiosmtpd
(SMTP). An email becomes a conversation, threads by its headers, is answered by the
auto-reply once per thread and by the agent with headers the customer's client threads;
nothing is imported twice across restarts, cuts and crashes, and every reply is sent
once or reported failed."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from channels.email import EmailChannel, imap
from channels.email.imap import ImapMailbox, login_refused
from channels.email.receiver import POISON_TRIES, Receiver
from channels.email.settings import EmailSettings, load
from channels.email.smtp import SmtpSubmission
from channels.email.transport import Mailbox, MailError
from channels.webhooks import InboundInProgress
from devkit import services
from gateway import protocol as p
from gateway.app import Node
from gateway.model.channel_state import Connection
from gateway.model.records import Message, Touchpoint
from tests.channels.email.conftest import NodeFactory, email_channel, setup_touchpoint
from tests.channels.email.mail import SmtpServer, an_email, count_in, deliver, settings_for


async def ready(channel: EmailChannel, tp_id: str = "tp_mail") -> Receiver:
    """The touchpoint's receiver, connected and waiting for mail."""
    for _ in range(400):
        receiver = channel.receivers.get(tp_id)
        if receiver is not None:
            await asyncio.wait_for(receiver.idle_entered.wait(), 30)
            return receiver
        await asyncio.sleep(0.025)
    raise AssertionError("no receiver started")


async def test_an_email_thread_is_one_conversation_and_replies_thread_back(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(
        node,
        dovecot,
        smtp,
        address,
        auto_reply={"enabled": True, "html": '<p>Thanks! Call <a href="tel:+1555">us</a>.</p>'},
        signature={"enabled": True, "html": "<p>{{agent.name}} &middot; Support</p>"},
    )
    channel = email_channel(node)
    receiver = await ready(channel)
    await deliver(dovecot, address, an_email(to=address, message_id="<first@customer.example>"))
    await receiver.until_imported(1)

    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    assert conv.address == "casey@customer.example"
    assert conv.fields["subject"] == "Where is my order?"
    content = await node.channel_state.content(conv.id, "<first@customer.example>")
    assert content is not None and content["subject"] == "Where is my order?"

    # the auto-reply: once, marked so that no other responder answers it
    [auto] = await smtp.recorder.until(1)
    assert auto["Auto-Submitted"] == "auto-replied"
    assert auto["In-Reply-To"] == "<first@customer.example>"
    assert auto["Subject"] == "Re: Where is my order?"
    assert "tel:+1555" in auto.get_body(("html",)).get_content()  # type: ignore[union-attr]

    # the agent answers: threading headers, signature, a copy in Sent
    agent = node.agents.agent("ag")
    await node.desk.act(agent, p.Assign(conversation_id=conv.id))
    conv = await node.conversations.get(conv.id)
    ack = await node.desk.send(agent, conv, "reply-1", "It left our warehouse today.")
    _, reply = await smtp.recorder.until(2)
    assert reply["In-Reply-To"] == "<first@customer.example>"
    assert "<first@customer.example>" in reply["References"]
    assert reply["Subject"] == "Re: Where is my order?"
    assert reply["To"] == "casey@customer.example"
    assert "Auto-Submitted" not in reply
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "It left our warehouse today." in text and "Ada" in text
    reply_id = reply["Message-ID"]
    stored = await _delivered(node, conv.id, ack.seq)
    assert stored.delivery == "sent" and stored.provider_id == reply_id
    assert await count_in(dovecot, address, "Sent", reply_id) == 1

    # the customer answers the agent's email: same conversation, no second auto-reply
    await deliver(
        dovecot,
        address,
        an_email(to=address, message_id="<second@customer.example>", in_reply_to=reply_id,
                 subject="Re: Where is my order?", text="Thanks!\n\n> It left our warehouse today."),
    )  # fmt: skip
    await receiver.until_imported(2)
    assert [c.id for c in await node.store.list_conversations(touchpoint_id="tp_mail")] == [conv.id]
    content = await node.channel_state.content(conv.id, "<second@customer.example>")
    assert content is not None
    assert content["text"] == "Thanks!" and "warehouse" in content["quoted_text"]
    assert len(smtp.recorder.messages) == 2

    # a colleague of theirs writes into the thread: the agent's plain reply answers that
    # email, as an email client's Reply does (it went to the contact's address)
    await deliver(
        dovecot,
        address,
        an_email(sender="robin@customer.example", to=address, in_reply_to=reply_id,
                 message_id="<third@customer.example>", subject="Re: Where is my order?",
                 text="Which carrier, please?"),
    )  # fmt: skip
    await receiver.until_imported(3)
    assert [c.id for c in await node.store.list_conversations(touchpoint_id="tp_mail")] == [conv.id]
    await node.desk.send(agent, conv, "reply-2", "The usual one, tracking to follow.")
    *_, answer = await smtp.recorder.until(3)
    assert answer["To"] == "robin@customer.example"
    assert answer["In-Reply-To"] == "<third@customer.example>"


async def test_no_auto_reply_to_machines_and_a_reply_after_the_end_starts_anew(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(
        node, dovecot, smtp, address, auto_reply={"enabled": True, "html": "<p>Thanks</p>"}
    )
    receiver = await ready(email_channel(node))
    await deliver(
        dovecot,
        address,
        an_email(to=address, message_id="<ooo@customer.example>",
                 headers={"Auto-Submitted": "auto-replied"}, subject="Out of office"),
    )  # fmt: skip
    await deliver(
        dovecot,
        address,
        an_email(sender="news@list.example", to=address, message_id="<news@list.example>",
                 headers={"Precedence": "bulk"}),
    )  # fmt: skip
    await receiver.until_imported(2)
    assert smtp.recorder.messages == []

    # the conversation ends; the customer answers it later: a new conversation
    [conv, _] = await node.store.list_conversations(touchpoint_id="tp_mail")
    agent = node.agents.agent("ag")
    await node.desk.act(agent, p.Assign(conversation_id=conv.id))
    await node.desk.act(agent, p.End(conversation_id=conv.id))
    await deliver(
        dovecot,
        address,
        an_email(to=address, message_id="<later@customer.example>",
                 in_reply_to="<ooo@customer.example>"),
    )  # fmt: skip
    await receiver.until_imported(3)
    convs = await node.store.list_conversations(address="casey@customer.example")
    assert len(convs) == 2 and convs[0].id == conv.id and convs[1].state != "wrapup"


async def test_a_restart_resumes_from_the_cursor_and_drops_redelivered_mail(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    await deliver(dovecot, address, an_email(to=address, message_id="<a@c.example>"))
    await receiver.until_imported(1)
    await node.stop()

    # while the gateway is down: two new emails, and the first one delivered again
    await deliver(dovecot, address, an_email(to=address, message_id="<b@c.example>"))
    await deliver(dovecot, address, an_email(to=address, message_id="<a@c.example>"))
    await deliver(dovecot, address, an_email(to=address, message_id="<c@c.example>"))
    node = await make_node()
    receiver = await ready(email_channel(node))
    assert receiver.imported == 2  # b and c; the second a was a no-op
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    bodies = [m.client_msg_id for m in await node.store.messages(conv.id)]
    assert bodies == ["<a@c.example>", "<b@c.example>", "<c@c.example>"]


async def test_a_node_stopped_while_its_reader_idles_logs_out(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    """Stopping ends IDLE (DONE), then LOGOUT: before, the LOGOUT queued behind the IDLE
    until its timeout, and every stop took 5 s per mailbox and cut the session."""
    address, _ = mailbox
    node = await make_node()
    channel = email_channel(node)
    opened: list[ImapMailbox] = []
    make_mailbox = channel._mailbox

    def recorded(tp: Touchpoint, settings: EmailSettings) -> Mailbox:
        made = make_mailbox(tp, settings)
        assert isinstance(made, ImapMailbox)
        opened.append(made)
        return made

    channel._mailbox = recorded  # type: ignore[method-assign]
    await setup_touchpoint(node, dovecot, smtp, address)
    await ready(channel)
    [session] = opened
    client = session._client
    assert client is not None and client.has_pending_idle()
    await node.stop()
    # the server answered the LOGOUT (aioimaplib's state moves only on its OK); before,
    # it stayed "SELECTED": the LOGOUT timed out behind the IDLE and the session was cut
    assert client.protocol.state == "LOGOUT"


async def test_the_connection_cut_mid_idle_and_a_server_restart_lose_nothing(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    dovecot.stop()  # the connection is cut while the receiver is in IDLE
    try:
        await asyncio.wait_for(receiver.disconnected.wait(), 30)
    finally:
        dovecot.start()
    # mail arrives while the receiver reconnects
    await deliver(dovecot, address, an_email(to=address, message_id="<during@c.example>"))
    await deliver(dovecot, address, an_email(to=address, message_id="<after@c.example>"))
    await receiver.until_imported(2)
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    ids = [m.client_msg_id for m in await node.store.messages(conv.id)]
    assert ids == ["<during@c.example>", "<after@c.example>"]
    connection = await node.channel_state.connection("tp_mail")
    assert connection is not None and connection.status == "connected"


async def test_a_crash_between_storing_and_the_cursor_imports_once(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    """The gateway dies after the email is committed and before the cursor moves: the
    next session fetches it again and its Message-ID makes that a no-op."""
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    original = node.channel_state.advance
    crashed = asyncio.Event()

    async def crash_once(*args: object) -> object:
        if not crashed.is_set():
            crashed.set()
            raise ConnectionResetError("killed between fetching and committing")
        return await original(*args)  # type: ignore[arg-type]

    node.channel_state.advance = crash_once  # type: ignore[method-assign]
    await deliver(dovecot, address, an_email(to=address, message_id="<once@c.example>"))
    await asyncio.wait_for(crashed.wait(), 30)
    await deliver(dovecot, address, an_email(to=address, message_id="<next@c.example>"))
    await receiver.until_imported(2)
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    ids = [m.client_msg_id for m in await node.store.messages(conv.id)]
    assert ids == ["<once@c.example>", "<next@c.example>"]


async def test_an_email_that_always_fails_is_skipped_and_the_admins_told(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    """An email whose import fails for a reason of its own (not the store or the server
    away) was tried again at every session, for good, and every later email waited
    behind it: after POISON_TRIES sessions it is skipped, and the admins are told."""
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    take = receiver._take
    tries = 0

    async def poisoned(tp: Touchpoint, settings: EmailSettings, raw: bytes, size: int) -> bool:
        nonlocal tries
        if b"<poison@c.example>" in raw:
            tries += 1
            raise ValueError("a part no parser takes")
        return await take(tp, settings, raw, size)

    receiver._take = poisoned  # type: ignore[method-assign]
    await deliver(dovecot, address, an_email(to=address, message_id="<poison@c.example>"))
    await deliver(dovecot, address, an_email(to=address, message_id="<after@c.example>"))
    await receiver.until_imported(1, timeout=60)
    assert tries == POISON_TRIES
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    assert [m.client_msg_id for m in await node.store.messages(conv.id)] == ["<after@c.example>"]
    [notice] = await node.store.list_notices()
    assert notice.kind == "provider_error" and "skipped" in notice.message


async def test_one_email_taken_on_two_nodes_at_once_is_stored_once(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    """Two nodes importing one email at the same instant (the mailbox's lease moved
    while its last holder was storing it) each missed the other's Message-ID and each
    stored it: one claims it, the other finds it stored or is told to try again."""
    address, _ = mailbox
    a = await make_node()
    tp = await setup_touchpoint(a, dovecot, smtp, address)
    b = await make_node()  # the same database (a file both nodes write)
    raw = an_email(to=address, message_id="<both@c.example>")
    settings = load(tp.settings)
    results = await asyncio.gather(
        *(email_channel(n).inbound.take(tp, settings, raw, len(raw)) for n in (a, b)),
        return_exceptions=True,
    )
    assert True in results, results
    assert all(r is True or r is False or isinstance(r, InboundInProgress) for r in results)
    [conv] = await a.store.list_conversations(touchpoint_id="tp_mail")
    assert [m.client_msg_id for m in await a.store.messages(conv.id)] == ["<both@c.example>"]


async def assigned(node: Node, receiver: Receiver, address: str, dovecot: services.Dovecot) -> str:
    await deliver(dovecot, address, an_email(to=address, message_id="<q@c.example>"))
    await receiver.until_imported(1)
    [conv] = await node.store.list_conversations(touchpoint_id="tp_mail")
    await node.desk.act(node.agents.agent("ag"), p.Assign(conversation_id=conv.id))
    return conv.id


async def test_smtp_refusing_fails_with_a_reason_and_a_4xx_is_retried_once(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    cid = await assigned(node, receiver, address, dovecot)
    agent = node.agents.agent("ag")
    conv = await node.conversations.get(cid)

    smtp.recorder.refuse = "550 5.1.1 no such user"
    ack = await node.desk.send(agent, conv, "m-1", "First")
    msg = await _delivered(node, cid, ack.seq)
    assert msg.delivery == "failed" and "550" in msg.delivery_error

    smtp.recorder.refuse, smtp.recorder.refuse_once = "451 4.3.0 try later", True
    node.deliveries.max_attempts = 3
    ack = await node.desk.send(agent, conv, "m-2", "Second")
    msg = await _delivered(node, cid, ack.seq, timeout=60)
    assert msg.delivery == "sent"
    [sent] = await smtp.recorder.until(1)
    assert sent.get_body(("plain",)).get_content().startswith("Second")  # type: ignore[union-attr]


async def test_a_recipient_refused_while_the_others_took_it_is_told_to_the_agent(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    """The server takes the email for the customer and refuses a Cc: it is sent (not
    retried: the customer would get it twice), and the agent reads, in the
    conversation, who did not get it (it was silently "sent" to everyone before)."""
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    receiver = await ready(email_channel(node))
    cid = await assigned(node, receiver, address, dovecot)
    agent = node.agents.agent("ag")
    conv = await node.conversations.get(cid)
    smtp.recorder.refuse_only = {"gone@customer.example": "550 5.1.1 no such user"}
    ack = await node.desk.send(
        agent, conv, "m-1", "See you", content={"cc": ["gone@customer.example"]}
    )
    msg = await _delivered(node, cid, ack.seq)
    assert msg.delivery == "sent"
    [(_, rcpts, _)] = smtp.recorder.messages
    assert "gone@customer.example" not in rcpts
    later = await node.store.messages(cid, after_seq=ack.seq)
    [notice] = [m for m in later if m.kind == "event" and "gone@customer.example" in m.body]
    assert "550" in notice.body and "did not get it" in notice.body
    assert (await email_channel(node).deliver(conv, msg)).sent  # a retry: no second notice
    assert len(smtp.recorder.messages) == 1
    again = await node.store.messages(cid, after_seq=ack.seq)
    assert [m.seq for m in again if m.kind == "event"] == [notice.seq]


async def test_a_retry_after_the_server_took_it_does_not_send_twice(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    """The worker delivers at least once; the stable Message-ID and the Sent folder make
    a second attempt (a crash before the outcome was recorded) a no-op."""
    address, _ = mailbox
    node = await make_node()
    await setup_touchpoint(node, dovecot, smtp, address)
    channel = email_channel(node)
    receiver = await ready(channel)
    cid = await assigned(node, receiver, address, dovecot)
    agent = node.agents.agent("ag")
    conv = await node.conversations.get(cid)
    ack = await node.desk.send(agent, conv, "m-1", "Only once")
    await _delivered(node, cid, ack.seq)
    [message] = await node.store.messages(cid, after_seq=ack.seq - 1)
    again = await channel.deliver(conv, message)  # the crashed worker's retry
    assert again.sent and again.provider_id == message.provider_id
    assert len(smtp.recorder.messages) == 1
    assert await count_in(dovecot, address, "Sent", message.provider_id) == 1


async def test_lost_credentials_hold_mail_until_reconnected(
    make_node: NodeFactory, dovecot: services.Dovecot, smtp: SmtpServer, mailbox: tuple[str, str]
) -> None:
    address, _ = mailbox
    node = await make_node()
    tp = await setup_touchpoint(node, dovecot, smtp, address)
    channel = email_channel(node)
    channel.outbound.hold_retry = 0.2
    receiver = await ready(channel)
    cid = await assigned(node, receiver, address, dovecot)
    agent = node.agents.agent("ag")

    # the password is changed at the provider: IMAP refuses it, SMTP too
    wrong = msgspec.structs.replace(tp, settings={**tp.settings, "password": "wrong"})
    await node.store.put_touchpoint(wrong)
    await node.shell.config_changed()
    await asyncio.wait_for(_until_status(node, "lost"), 30)
    ack = await node.desk.send(agent, await node.conversations.get(cid), "held-1", "Held")
    await deliver(dovecot, address, an_email(to=address, message_id="<while-lost@c.example>"))
    [msg] = await node.store.messages(cid, after_seq=ack.seq - 1)
    assert msg.delivery == "pending"

    # reconnect with the right password: the held reply goes, the waiting email comes in
    await node.store.put_touchpoint(tp)
    await node.shell.config_changed()
    await asyncio.wait_for(_until_status(node, "connected"), 30)
    receiver = await ready(channel)
    await receiver.until_imported(1)
    msg = await _delivered(node, cid, ack.seq, timeout=90)
    assert msg.delivery == "sent"
    ids = [m.client_msg_id for m in await node.store.messages(cid)]
    assert ids.count("<while-lost@c.example>") == 1


async def _until_status(node: Node, status: str) -> None:
    """Wait for the touchpoint's connection to reach ``status`` (the core's listener)."""
    reached = asyncio.Event()

    async def listen(before: object, after: Connection) -> None:
        if after.touchpoint_id == "tp_mail" and after.status == status:
            reached.set()

    node.channel_state.on_connection(listen)
    conn = await node.channel_state.connection("tp_mail")
    if conn is None or conn.status != status:
        await reached.wait()


async def _delivered(node: Node, cid: str, seq: int, timeout: float = 30) -> Message:
    async def done() -> Message:
        while True:
            [msg] = await node.store.messages(cid, after_seq=seq - 1, limit=1)
            if msg.delivery in ("sent", "failed"):
                return msg
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(done(), timeout)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_smtp_with_an_oauth2_bearer_token(smtp: SmtpServer) -> None:
    """XOAUTH2 behind the same interface as a password; a refused token is an
    authentication failure (the touchpoint's connection is then lost), not a retry."""
    settings = load(
        {
            "address": "support@shop.test",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            "auth": "oauth2",
            "oauth_token": "good-token",
        }
    )
    raw = an_email(to="c@customer.test", message_id="<oauth@shop.test>")
    await SmtpSubmission(settings).send(raw, "support@shop.test", ["c@customer.test"])
    assert smtp.recorder.oauth_logins == [("support@shop.test", "Bearer good-token")]
    assert len(await smtp.recorder.until(1)) == 1
    expired = msgspec.structs.replace(settings, oauth_token="expired")
    with pytest.raises(MailError) as failure:
        await SmtpSubmission(expired).send(raw, "support@shop.test", ["c@customer.test"])
    assert failure.value.auth and not failure.value.retryable
    busy = msgspec.structs.replace(settings, oauth_token="busy-token")
    with pytest.raises(MailError) as failure:
        await SmtpSubmission(busy).send(raw, "support@shop.test", ["c@customer.test"])
    assert failure.value.retryable and not failure.value.auth  # 454: tried again later


def test_an_imap_login_refused_for_now_is_retried_and_wrong_credentials_are_not() -> None:
    busy = login_refused([b"[UNAVAILABLE] Temporary authentication failure. [host:1]"])
    assert busy.retryable and not busy.auth
    wrong = login_refused([b"[AUTHENTICATIONFAILED] Authentication failed."])
    assert wrong.auth and not wrong.retryable


async def test_an_email_over_the_limit_is_fetched_by_its_header_section_only(
    dovecot: services.Dovecot,
    smtp: SmtpServer,
    mailbox: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An email past MAX_RAW_BYTES (100 KB here, 40 MB in use) is not taken into memory:
    its size is asked first, then only its header section (what the agent's notice is
    made of); one under it comes whole."""
    address, _ = mailbox
    monkeypatch.setattr(imap, "MAX_RAW_BYTES", 100_000)
    await deliver(dovecot, address, an_email(to=address, message_id="<small@customer.example>"))
    big = an_email(to=address, message_id="<big@customer.example>", text="long " * 60_000)
    await deliver(dovecot, address, big)
    box = ImapMailbox(load(settings_for(dovecot, smtp, address)))
    await box.open()
    try:
        small_uid, big_uid = await box.uids_after(0)
        whole, head = await box.fetch(small_uid), await box.fetch(big_uid)
    finally:
        await box.close()
    assert whole is not None and head is not None
    assert whole.size == len(whole.raw) and b"<small@customer.example>" in whole.raw
    assert b"has not arrived" in whole.raw
    assert head.size >= len(big) > 100_000
    assert len(head.raw) < 2_000 and head.raw.endswith(b"\r\n\r\n")
    assert b"<big@customer.example>" in head.raw and b"long long" not in head.raw
