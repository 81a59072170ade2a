"""Reconnecting a connected email touchpoint with its stored credentials (an empty-body
``POST /api/admin/touchpoints/{id}/email/reconnect``): the reader logs out of its
session at once and connects again (connecting, then connected), and no email is
imported twice or skipped, even when the reconnect comes in the middle of a batch.
Reauthenticating (the same endpoint with a new password) replaces the reader once the
email it is importing is stored and answered. Real Dovecot (IDLE) and aiosmtpd; the gateway is the app in-process, driven over its
admin API."""

from __future__ import annotations

import asyncio
import imaplib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from channels.email.imap import ImapMailbox
from channels.email.inbound import AUTO_REPLY_ID
from channels.email.receiver import Receiver
from channels.email.settings import EmailSettings
from channels.email.transport import Mailbox
from devkit import services
from devkit.inprocess import InProcessGateway
from gateway.model.channel_state import Connection
from gateway.model.records import Touchpoint
from tests.channels.email.conftest import email_channel
from tests.channels.email.mail import SmtpServer, an_email, deliver, settings_for
from tests.channels.email.test_chat_followup import TP, add_mailbox, admin
from tests.channels.email.test_flow import ready
from tests.poll import until, until_sync

STATUS = f"{TP}/tp_mail/email"


@pytest.fixture
async def gw() -> AsyncIterator[InProcessGateway]:
    async with InProcessGateway({"GATEWAY_DEMO": "1"}) as gateway:
        yield gateway


async def status_becomes(http: httpx.AsyncClient, want: str) -> Any:
    """A bounded poll of the status endpoint: nothing announces the reader's reconnect."""

    async def status() -> Any:
        return (await http.get(STATUS)).json()

    return await until(status, lambda s: s["status"] == want, what=f"status {want}")


def sessions_of(gw: InProcessGateway) -> list[ImapMailbox]:
    """Every IMAP session the email channel opens from now on, in order."""
    channel = email_channel(gw.node)
    opened: list[ImapMailbox] = []
    make = channel._mailbox

    def recorded(tp: Touchpoint, settings: EmailSettings) -> Mailbox:
        made = make(tp, settings)
        if tp.id == "tp_mail":
            assert isinstance(made, ImapMailbox)
            opened.append(made)
        return made

    channel._mailbox = recorded  # type: ignore[method-assign]
    return opened


async def imported(gw: InProcessGateway) -> Counter[str]:
    """How many times each email's Message-ID is among the touchpoint's messages."""
    store = gw.node.store
    ids: Counter[str] = Counter()
    for conv in await store.list_conversations(touchpoint_id="tp_mail"):
        ids.update(m.client_msg_id for m in await store.messages(conv.id) if m.kind == "text")
    return ids


async def connected(
    gw: InProcessGateway, http: httpx.AsyncClient, dovecot: services.Dovecot, smtp: SmtpServer
) -> tuple[str, Receiver, Any]:
    address = await add_mailbox(http, dovecot, smtp, direction="both")
    receiver = await ready(email_channel(gw.node))
    return address, receiver, await status_becomes(http, "connected")


def statuses(gw: InProcessGateway) -> list[str]:
    """The touchpoint's connection statuses from now on, as the core records them (one
    node: the endpoint's "connecting" and the reader's "connected" are both heard here);
    the endpoint's answer may already say "connected" on a fast machine."""
    seen: list[str] = []

    async def listen(before: object, after: Connection) -> None:
        if after.touchpoint_id == "tp_mail":
            seen.append(after.status)

    gw.node.channel_state.on_connection(listen)
    return seen


async def test_a_connected_touchpoint_reconnects_with_its_stored_credentials(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    opened = sessions_of(gw)
    async with await admin(gw) as http:
        address, receiver, before = await connected(gw, http, dovecot, smtp)
        [first] = opened
        client = first._client
        assert client is not None and client.has_pending_idle()

        seen = statuses(gw)
        r = await http.post(f"{STATUS}/reconnect", json={})
        assert r.status_code == 200, r.text
        assert r.json()["status"] in ("connecting", "connected")
        after = await status_becomes(http, "connected")
        assert seen == ["connecting", "connected"]
        assert after["connected_at"] > before["connected_at"]
        assert after["notices"] == [] and after["reason"] == ""
        # the IDLE session ended cleanly (DONE, then LOGOUT answered), a new one is open
        assert client.protocol.state == "LOGOUT"
        assert len(opened) == 2
        assert email_channel(gw.node).receivers["tp_mail"] is receiver

        # mail after the reconnect comes in through the new session, once
        await asyncio.wait_for(receiver.idle_entered.wait(), 30)
        await deliver(dovecot, address, an_email(to=address, message_id="<after@c.example>"))
        await receiver.until_imported(1)
        await deliver(dovecot, address, an_email(to=address, message_id="<next@c.example>"))
        await receiver.until_imported(2)
        assert await imported(gw) == {"<after@c.example>": 1, "<next@c.example>": 1}
        assert receiver.imported == 2
        assert len(opened) == 2


async def test_a_reconnect_in_the_middle_of_a_batch_imports_each_email_once(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    """The reconnect comes while one email of a batch is being stored: that import is
    finished and its cursor moved, the session ends, the next one reads the rest of the
    batch from the cursor. Nothing twice, nothing skipped."""
    opened = sessions_of(gw)
    async with await admin(gw) as http:
        address, receiver, _ = await connected(gw, http, dovecot, smtp)
        client = opened[0]._client
        assert client is not None
        take = receiver._take
        held = {"<m1@c.example>": asyncio.Event(), "<m2@c.example>": asyncio.Event()}
        taking = {key: asyncio.Event() for key in held}
        taken: list[str] = []
        in_session: list[int] = []  # the session each email was taken in (1, 2)

        async def gated(tp: Touchpoint, settings: EmailSettings, raw: bytes, size: int) -> bool:
            for key, go in held.items():
                if key.encode() in raw:
                    taking[key].set()
                    await go.wait()
            taken.append(raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip().decode())
            in_session.append(len(opened))
            return await take(tp, settings, raw, size)

        receiver._take = gated  # type: ignore[method-assign]
        # m1 is held while m2..m5 arrive: once it is stored, m2..m5 are one batch
        await deliver(dovecot, address, an_email(to=address, message_id="<m1@c.example>"))
        await asyncio.wait_for(taking["<m1@c.example>"].wait(), 30)
        for n in range(2, 6):
            await deliver(dovecot, address, an_email(to=address, message_id=f"<m{n}@c.example>"))
        held["<m1@c.example>"].set()
        await asyncio.wait_for(taking["<m2@c.example>"].wait(), 30)

        # the reconnect while m2 is being stored (m3..m5 listed, not yet fetched)
        seen = statuses(gw)
        r = await http.post(f"{STATUS}/reconnect", json={})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "connecting"  # m2 is held: no new session yet
        held["<m2@c.example>"].set()
        await status_becomes(http, "connected")
        assert seen == ["connecting", "connected"]
        await receiver.until_imported(5)
        assert len(opened) == 2 and client.protocol.state == "LOGOUT"  # a clean logout
        want = {f"<m{n}@c.example>": 1 for n in range(1, 6)}
        assert await imported(gw) == want
        assert taken == list(want)  # each fetched and taken once, in order
        assert in_session == [1, 1, 2, 2, 2]  # m2 finished, m3..m5 read by the next
        assert receiver.imported == 5


def set_password(dovecot: services.Dovecot, user: str, password: str) -> None:
    """Change a mailbox's password in Dovecot's passwd-file (re-read at most once a
    second: a bounded poll until the new one logs in)."""
    passwd = dovecot.tmp / "passwd"
    lines = passwd.read_text().splitlines()
    passwd.write_text(
        "".join(
            f"{user}:{{PLAIN}}{password}\n" if line.startswith(f"{user}:") else f"{line}\n"
            for line in lines
        )
    )

    def logs_in() -> bool:
        try:
            with imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10) as client:
                client.login(user, password)
                return True
        except imaplib.IMAP4.error:
            return False

    until_sync(logs_in, what="Dovecot taking the new password")


class HeldImport:
    """An auto-replying mailbox whose reader imports one email, r1, and is held between
    its storing and its auto-reply (until ``go``); ``stopping`` is set when the reader's
    stop is called (a cut would come at once)."""

    def __init__(self) -> None:
        self.address = f"support-{uuid.uuid4().hex[:8]}@example.test"
        self.answering, self.go, self.stopping = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.conversations: list[str] = []

    async def start(
        self, gw: InProcessGateway, http: httpx.AsyncClient, dovecot: services.Dovecot,
        smtp: SmtpServer,
    ) -> Receiver:  # fmt: skip
        channel = email_channel(gw.node)
        dovecot.add_user(self.address, "secret")
        auto_reply = {"enabled": True, "html": "<p>Thanks, we are on it.</p>"}
        r = await http.post(
            TP,
            json={"id": "tp_mail", "name": "Support mailbox", "channel": "email",
                  "direction": "both", "routing_mode": "simplified", "queue_ids": ["q_support"],
                  "settings": settings_for(dovecot, smtp, self.address, auto_reply=auto_reply)},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert (await http.post(f"{TP}/tp_mail/activate")).status_code == 200
        reader = await ready(channel)
        await status_becomes(http, "connected")

        answer = channel.inbound._auto_reply

        async def held(*args: Any) -> None:
            self.conversations.append(args[2])
            self.answering.set()
            await self.go.wait()
            await answer(*args)

        channel.inbound._auto_reply = held  # type: ignore[method-assign]
        stop = reader.stop

        async def stopped(**how: Any) -> None:
            self.stopping.set()
            await stop(**how)

        reader.stop = stopped  # type: ignore[method-assign]
        await deliver(dovecot, self.address, an_email(to=self.address, message_id="<r1@c.example>"))
        await asyncio.wait_for(self.answering.wait(), 30)
        return reader

    async def answered_once(self, gw: InProcessGateway, smtp: SmtpServer) -> None:
        """r1 stored once, auto-replied once (the auto-reply is a message of the
        conversation, and one email out)."""
        [conv] = self.conversations
        assert await imported(gw) == {"<r1@c.example>": 1, f"{AUTO_REPLY_ID}:{conv}": 1}
        [auto] = await smtp.recorder.until(1)
        assert auto["In-Reply-To"] == "<r1@c.example>"
        assert auto["Auto-Submitted"] == "auto-replied"
        assert len(smtp.recorder.messages) == 1


async def test_a_reauthentication_finishes_the_email_being_imported_first(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    """New credentials replace the reader while an email's import is held between its
    storing and its auto-reply: the old reader finishes it (stored, auto-reply sent, the
    cursor moved) before it goes, and the new one, logged in with the new password,
    neither imports it again nor loses its auto-reply. Nothing twice, nothing lost."""
    opened = sessions_of(gw)
    channel = email_channel(gw.node)
    async with await admin(gw) as http:
        r1 = HeldImport()
        old = await r1.start(gw, http, dovecot, smtp)
        await asyncio.to_thread(set_password, dovecot, r1.address, "secret-2")
        seen = statuses(gw)
        reauth = asyncio.create_task(
            http.post(f"{STATUS}/reconnect", json={"password": "secret-2"})
        )
        await asyncio.wait_for(r1.stopping.wait(), 30)
        r1.go.set()
        r = await reauth
        assert r.status_code == 200, r.text
        await status_becomes(http, "connected")
        assert seen == ["connecting", "connected"]
        new = await ready(channel)
        assert new is not old and new.settings.password == "secret-2"
        assert len(opened) == 2 and not old.running

        # the new reader read from the cursor before it idled: r1 was not taken again
        await r1.answered_once(gw, smtp)
        assert (old.imported, new.imported) == (1, 0)


async def test_a_graceful_stop_finishes_the_email_being_imported(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    """The node stops (SIGTERM's drain runs the channels' stop) while an email's import
    is held between its storing and its auto-reply: the reader finishes it first. Cut,
    the next start would find it stored and never answer it."""
    channel = email_channel(gw.node)
    async with await admin(gw) as http:
        r1 = HeldImport()
        reader = await r1.start(gw, http, dovecot, smtp)
        stopping = asyncio.create_task(channel.stop())
        await asyncio.wait_for(r1.stopping.wait(), 30)
        assert not stopping.done()
        # a configuration reload meanwhile (the shell stops after the channels) must not
        # take the mailbox back on this stopping node
        reload = asyncio.create_task(channel.configuration_changed())
        r1.go.set()
        await asyncio.wait_for(stopping, 30)
        await asyncio.wait_for(reload, 30)
        assert not reader.running and reader.imported == 1
        assert channel.receivers == {}
        await r1.answered_once(gw, smtp)
