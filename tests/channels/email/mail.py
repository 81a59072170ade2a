"""The email tests' real servers and helpers: aiosmtpd (a real SMTP server, in-process on
loopback) that records or refuses what it is given, and Dovecot's mailboxes (the session's
IMAP server, devkit/services.py) written to with the standard library's imaplib, as a
mail server's delivery agent would."""

from __future__ import annotations

import asyncio
import base64
import email
import imaplib
import itertools
import time
from email import policy
from email.message import EmailMessage
from typing import Any

import msgspec
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from channels.email.demo import demo_touchpoint
from devkit import services
from gateway.model.records import Touchpoint

_users = itertools.count(1)


class Recorder:
    """aiosmtpd's handler: keeps every accepted message; ``refuse`` answers RCPT with a
    code instead (a 4xx once lets the next attempt through)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: str = ""
        self.refuse_once = False
        # recipients answered with a code of their own (the others are taken)
        self.refuse_only: dict[str, str] = {}
        self.oauth_logins: list[tuple[str, str]] = []
        self._arrived = asyncio.Condition()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        """SASL XOAUTH2 (Google's and Microsoft's format): "user=U^Aauth=Bearer T^A^A"."""
        blob = base64.b64decode(args[1]) if len(args) > 1 else b""
        fields = dict(part.split(b"=", 1) for part in blob.split(b"\x01") if b"=" in part)
        self.oauth_logins.append(
            (fields.get(b"user", b"").decode(), fields.get(b"auth", b"").decode())
        )
        if fields.get(b"auth") == b"Bearer busy-token":  # the provider's auth is down
            await server.push("454 4.7.0 Temporary authentication failure")
            return AuthResult(success=False, handled=True)
        ok = fields.get(b"auth") == b"Bearer good-token"
        return AuthResult(success=ok, handled=False, auth_data=fields.get(b"user"))

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse_only:
            return self.refuse_only[address]
        if self.refuse:
            answer = self.refuse
            if self.refuse_once:
                self.refuse = ""
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._notify()))
        return "250 Message accepted"

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def until(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.messages) >= count), timeout
            )
        return [m for _, _, m in self.messages]


def _accept_any(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password != b"wrong"
    return AuthResult(success=ok)


class SmtpServer:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = services.free_port()
        self._controller = Controller(
            self.recorder,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=_accept_any,
            auth_require_tls=False,
        )

    def start(self) -> None:
        self.recorder.loop = asyncio.get_running_loop()
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def new_mailbox(dovecot: services.Dovecot) -> tuple[str, str]:
    """A fresh mailbox on the session's Dovecot: (address, password)."""
    address = f"support{next(_users)}@example.test"
    dovecot.add_user(address, "secret")
    return address, "secret"


def settings_for(
    dovecot: services.Dovecot, smtp: SmtpServer, address: str, **extra: Any
) -> dict[str, Any]:
    return {
        "address": address,
        "imap": {"host": "127.0.0.1", "port": dovecot.port, "security": "none"},
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
        "password": "secret",
        **extra,
    }


def _imap(dovecot: services.Dovecot, user: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", dovecot.port)
    client.login(user, "secret")
    return client


def _deliver(dovecot: services.Dovecot, user: str, raw: bytes, folder: str) -> None:
    client = _imap(dovecot, user)
    try:
        status, _ = client.append(folder, None, None, raw)
        assert status == "OK"
    finally:
        client.logout()


async def deliver(dovecot: services.Dovecot, user: str, raw: bytes, folder: str = "INBOX") -> None:
    """Put an email in the mailbox, as the mail server's delivery agent would."""
    await asyncio.to_thread(_deliver, dovecot, user, raw, folder)


def _search(dovecot: services.Dovecot, user: str, folder: str, message_id: str) -> int:
    client = _imap(dovecot, user)
    try:
        status, _ = client.select(f'"{folder}"')
        if status != "OK":
            return 0
        _, data = client.uid("search", None, "HEADER", "Message-ID", f'"{message_id}"')
        return len(data[0].split()) if data and data[0] else 0
    finally:
        client.logout()


async def count_in(dovecot: services.Dovecot, user: str, folder: str, message_id: str) -> int:
    return await asyncio.to_thread(_search, dovecot, user, folder, message_id)


def an_email(
    *,
    sender: str = "casey@customer.example",
    to: str,
    subject: str = "Where is my order?",
    text: str = "Hello, my order has not arrived.",
    message_id: str,
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
    html: str = "",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Casey Customer <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return bytes(msg)


def admins_mail(dovecot: services.Dovecot, smtp: SmtpServer) -> tuple[str, list[Touchpoint]]:
    """A send-only email touchpoint on ``smtp`` for the admins' mail, and the demo mailbox
    switched off (it would carry it instead): its address, and both to seed."""
    address, _ = new_mailbox(dovecot)
    mail_tp = Touchpoint(
        id="tp_mail",
        name="Support mail",
        channel="email",
        active=True,
        direction="outbound",
        routing_mode="simplified",
        queue_ids=["q_support"],
        settings=settings_for(dovecot, smtp, address),
    )
    demo_mail = msgspec.structs.replace(demo_touchpoint(time.time()), active=False)
    return address, [mail_tp, demo_mail]
