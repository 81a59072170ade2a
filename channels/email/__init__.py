"""Email: a mailbox is a touchpoint, a thread is a conversation (docs/channels/email.md).

Receiving: one task per active touchpoint whose direction is inbound or both
(receiver.py), on one node at a time (a lease per mailbox, ``gw:lease:email:<id>``,
through the core's Exclusive), reading the folder over IMAP with IDLE (polling without
it) from the stored cursor; each email is parsed (mime.py), threaded and stored
(inbound.py). Sending: the delivery worker hands each stored reply to :meth:`deliver`
(outbound.py), which sends it over SMTP with a stable Message-ID and keeps a copy in
Sent. The demo touchpoint uses the in-process demo mailbox (demo_mailbox.py, demo.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Annotated, Any

import msgspec
from email_validator import EmailNotValidError, validate_email
from starlette.routing import BaseRoute

from channels.base import ChannelAdapter, Core, Problems
from channels.email import api, demo
from channels.email.carrier import Carrier
from channels.email.demo_mailbox import DemoMailbox, DemoSubmission, PostOffice
from channels.email.html import sanitise
from channels.email.imap import ImapMailbox
from channels.email.inbound import Inbound
from channels.email.outbound import Outbound
from channels.email.receiver import FINISH_WITHIN, Receiver
from channels.email.settings import SECRETS, EmailSettings, check, load
from channels.email.smtp import SmtpSubmission
from channels.email.transport import Mailbox, MailError, Submission
from gateway.aio import cancel_and_wait
from gateway.errors import Forbidden, InvalidInput, NotFound
from gateway.model.channel_state import Connection, ConnectionStatus, Content
from gateway.model.records import Agent, Conversation, Message, Touchpoint
from gateway.services.deliveries import Outcome, failed
from gateway.services.exclusive import Held
from gateway.services.notify import ContactNote
from gateway.web.admin.http import route
from gateway.web.openapi import Endpoint

log = logging.getLogger("gateway.email")

Address = Annotated[str, msgspec.Meta(max_length=320)]


class EmailContent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What an agent's email says beyond its text (``content`` of the message API):
    reply (the defaults), reply all (cc), forward (to, subject, html) and CC / BCC."""

    to: Annotated[list[Address], msgspec.Meta(max_length=50)] = []
    cc: Annotated[list[Address], msgspec.Meta(max_length=50)] = []
    bcc: Annotated[list[Address], msgspec.Meta(max_length=50)] = []
    subject: Annotated[str, msgspec.Meta(max_length=998)] = ""
    html: Annotated[str, msgspec.Meta(max_length=500_000)] = ""


def _addresses(field: str, values: list[str], problems: Problems) -> list[str]:
    out = []
    for i, value in enumerate(values):
        try:
            out.append(
                validate_email(
                    value.strip(), check_deliverability=False, test_environment=True
                ).normalized
            )
        except EmailNotValidError as exc:
            problems.append((f"content.{field}[{i}]", str(exc)))
    return list(dict.fromkeys(out))


class EmailChannel(ChannelAdapter):
    name = "email"
    # an agent's files go out as the email's attachments (outbound.py)
    delivers_files = True
    secret_settings = SECRETS

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.office = PostOffice()
        self.inbound = Inbound(core)
        self.outbound = Outbound(core, self._submission, self._mailbox, self._lost)
        # other channels' email through these touchpoints (a chat's answers, transcripts)
        self.carrier = Carrier(core, self._submission, self._mailbox, self._lost)
        core.deliveries.register_mail(self.carrier)
        # the admins' notices that are also emailed go out through email_admins
        core.notices.register_mailer(self)
        self.receivers: dict[str, Receiver] = {}
        # touchpoint id -> (settings digest, lease; None for the demo mailbox)
        self._held: dict[str, tuple[str, Held | None]] = {}
        self._sync_lock = asyncio.Lock()
        self._stopping = False  # stop() began: no reload takes a mailbox again
        self._reminder: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        core.state.on_connection(self._connection_changed)

    # -- transports ----------------------------------------------------------------------
    def _demo_mailboxes(self) -> set[str]:
        return {
            str(tp.settings.get("address", "")).lower()
            for tp in self.core.directory.touchpoints.values()
            if tp.channel == "email" and tp.settings.get("provider") == "demo"
        }

    def _mailbox(self, tp: Touchpoint, settings: EmailSettings) -> Mailbox:
        if settings.provider == "demo":
            return DemoMailbox(self.office, settings.address, settings.folder)
        return ImapMailbox(settings)

    def _submission(self, tp: Touchpoint, settings: EmailSettings) -> Submission:
        if settings.provider == "demo":
            return DemoSubmission(self.office, self._demo_mailboxes())
        return SmtpSubmission(settings)

    # -- lifecycle: one receiver per readable touchpoint, on one node --------------------
    async def start(self) -> None:
        await self._sync()
        self._reminder = asyncio.create_task(self._remind(), name="email re-check reminders")

    async def stop(self) -> None:
        """A graceful shutdown: every reader finishes the email it is importing (stored,
        auto-replied, its cursor moved; a cut one would be found stored at the next
        start and never answered), all at once, within the drain timeout."""
        await cancel_and_wait(self._reminder)
        # no configuration reload takes a mailbox back meanwhile (the shell stops after
        # the channels): it would start a reader on this stopping node
        self._stopping = True
        async with self._sync_lock:
            within = self.core.settings.drain_timeout
            await asyncio.gather(
                *(self._release(tp_id, finish=True, within=within) for tp_id in list(self._held))
            )
        for task in list(self._tasks):
            task.cancel()

    async def configuration_changed(self) -> None:
        await self._sync()

    def _readable(self) -> dict[str, Touchpoint]:
        return {
            tp.id: tp
            for tp in self.core.directory.touchpoints.values()
            if tp.channel == "email" and tp.active and tp.direction in ("inbound", "both")
        }

    async def _sync(self) -> None:
        async with self._sync_lock:
            if self._stopping:
                return
            wanted = self._readable()
            for tp_id in [t for t in self._held if t not in wanted]:
                await self._release(tp_id, finish=True)
            for tp_id, tp in wanted.items():
                digest = hashlib.sha256(msgspec.json.encode(tp.settings)).hexdigest()
                current = self._held.get(tp_id)
                if current is not None and current[0] == digest:
                    # unchanged; a reconnect request (any configuration reload) retries a
                    # receiver that is waiting for an admin, and ends a working session
                    # when the reconnect endpoint marked it "connecting" (another reload
                    # leaves it be)
                    receiver = self.receivers.get(tp_id)
                    if receiver is not None:
                        conn = await self.core.state.connection(tp_id)
                        receiver.restart(drop=conn is not None and conn.status == "connecting")
                    continue
                # new settings (a reauthentication's credentials): a new receiver, once
                # the old one has finished the email it is importing
                await self._release(tp_id, finish=True)
                if tp.settings.get("provider") == "demo":
                    # the demo mailbox is this process's memory: every node reads its own
                    self._held[tp_id] = (digest, None)
                    await self._run_receiver(tp_id)
                    continue
                held = await self.core.exclusive.hold(
                    f"email:{tp_id}",
                    functools.partial(self._run_receiver, tp_id),
                    functools.partial(self._stop_receiver, tp_id),
                )
                self._held[tp_id] = (digest, held)

    async def _release(
        self, tp_id: str, *, finish: bool = False, within: float = FINISH_WITHIN
    ) -> None:
        """Stop reading the mailbox and give its lease up; with ``finish``, the email
        being imported is stored and answered first (at most ``within`` seconds), while
        this node still holds the lease (no other node reads the mailbox meanwhile)."""
        entry = self._held.pop(tp_id, None)
        if finish:
            await self._stop_receiver(tp_id, finish=True, within=within)
        if entry is not None and entry[1] is not None:
            await self.core.exclusive.release(entry[1].name)
        await self._stop_receiver(tp_id)

    async def _run_receiver(self, tp_id: str) -> None:
        await self._stop_receiver(tp_id)
        tp = self.core.directory.touchpoints.get(tp_id)
        entry = self._held.get(tp_id)
        if tp is None:
            return
        settings = load(tp.settings)
        receiver = Receiver(
            tp,
            settings,
            mailbox=lambda: self._mailbox(tp, settings),
            take=self.inbound.take,
            state=self.core.state,
            set_status=self._set_status,
            valid=(entry[1].valid if entry is not None and entry[1] is not None else lambda: True),
            clock=self.core.clock,
            skipped=self._skipped,
            stream=(
                f"{settings.folder}@demo-{self.office.uidvalidity}"
                if settings.provider == "demo"
                else ""
            ),
        )
        self.receivers[tp_id] = receiver
        receiver.start()

    async def _stop_receiver(
        self, tp_id: str, *, finish: bool = False, within: float = FINISH_WITHIN
    ) -> None:
        receiver = self.receivers.pop(tp_id, None)
        if receiver is not None:
            await receiver.stop(finish=finish, within=within)

    # -- connection status, admins' notices ----------------------------------------------
    async def _set_status(self, tp: Touchpoint, status: ConnectionStatus, reason: str) -> None:
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await self.core.state.set_connection(tp.id, status, reason)
        if status == "connected":
            self.core.deliveries.wake()  # messages held while it was lost go now

    async def _skipped(self, tp: Touchpoint, uid: int, exc: BaseException) -> None:
        await self.core.notices.notify(
            "provider_error",
            f"Email touchpoint {tp.name}: an email (UID {uid} of the folder) could not be "
            f"imported ({type(exc).__name__}) and was skipped so that later ones are; it is "
            "still in the mailbox. The log has the details.",
            touchpoint_id=tp.id,
        )

    async def _lost(self, tp: Touchpoint, reason: str) -> None:
        await self._set_status(tp, "lost", reason)

    async def _connection_changed(self, before: Connection | None, after: Connection) -> None:
        tp = self.core.directory.touchpoints.get(after.touchpoint_id)
        if tp is None or tp.channel != "email" or after.status != "lost":
            return
        log.warning("email %s: %s (%s)", tp.id, api.LOST_NOTICE, after.reason)
        # in the background: a slow mail server must not hold up the receiving loop
        self._background(
            self.notify_admins(
                tp,
                f"{api.LOST_NOTICE}: {tp.name}",
                f"The email touchpoint {tp.name} ({tp.settings.get('address', '')}) lost its "
                f"connection to the email provider: {after.reason}\n\nNo email is sent or "
                f"received until it is reconnected: Admin > Touchpoints > {tp.name} > "
                f"Reconnect (POST /api/admin/touchpoints/{tp.id}/email/reconnect). "
                "Reconnecting restores every pending email, without loss or duplicates.",
            )
        )

    def _background(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify_admins(self, tp: Touchpoint, subject: str, text: str) -> list[str]:
        """Email every active admin: through this touchpoint's server if it still sends,
        else through another connected email touchpoint. Returns the addresses reached."""
        admins = sorted(
            {a.email for a in self.core.directory.agents.values() if a.role == "admin" and a.active}
        )
        if not admins:
            return []
        candidates = [tp] + [
            t
            for t in self.core.directory.touchpoints.values()
            if t.channel == "email" and t.active and t.id != tp.id
        ]
        for via in candidates:
            try:
                settings = load(via.settings)
                msg = EmailMessage()
                msg["From"] = settings.address
                msg["To"] = ", ".join(admins)
                msg["Subject"] = subject
                # RFC 5322 asks for both; mail filters mark a message without them as spam
                msg["Date"] = format_datetime(datetime.fromtimestamp(self.core.clock(), UTC))
                msg["Message-ID"] = make_msgid(domain=settings.address.rpartition("@")[2])
                msg["Auto-Submitted"] = "auto-generated"
                msg.set_content(text)
                await self._submission(via, settings).send(bytes(msg), settings.address, admins)
                return admins
            except (MailError, msgspec.ValidationError) as exc:
                log.warning("admin notice through %s failed: %s", via.id, exc)
        return []

    async def email_admins(self, subject: str, text: str) -> list[str]:
        """The admins' mailer (AdminMailer in gateway/services/notices.py): email every
        active admin through the first email touchpoint that can send now (active, not
        receive-only, its provider connection up; a send-only one unless marked lost).
        Returns the addresses reached ([] when none can send)."""
        for tp in sorted(self.core.directory.touchpoints.values(), key=lambda t: t.id):
            if self.carrier.sender(tp.id) is None:
                continue
            conn = await self.core.state.connection(tp.id)
            if (conn.status == "connected") if conn else (tp.direction == "outbound"):
                return await self.notify_admins(tp, subject, text)
        return []

    async def _remind(self) -> None:
        """OAuth touchpoints: a reminder to re-check every 14 days (the reference's
        Microsoft accounts), by the node that reads the mailbox."""
        while True:
            await asyncio.sleep(3600)
            with contextlib.suppress(Exception):
                await self.remind_due()

    async def remind_due(self) -> list[str]:
        reminded = []
        now = self.core.clock()
        for tp_id in list(self.receivers):
            tp = self.core.directory.touchpoints.get(tp_id)
            if tp is None:
                continue
            conn = await self.core.state.connection(tp_id)
            due = api.recheck_due_at(conn, str(tp.settings.get("auth", "password")))
            if due is not None and now >= due:
                await self.notify_admins(tp, api.RECHECK_NOTICE, f"{api.RECHECK_NOTICE}: {tp.name}")
                await self.core.state.reminded(tp_id)
                reminded.append(tp_id)
        return reminded

    # -- configuration ------------------------------------------------------------------
    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        problems: Problems = []
        if tp.domain:
            problems.append(("domain", "email touchpoints have no domain"))
        settings, more = check(tp.settings)
        problems += more
        if settings.get("imap", {}).get("security") == "starttls":
            problems.append(
                ("settings.imap.security", "IMAP over STARTTLS is not supported: use tls (993)")
            )
        return msgspec.structs.replace(tp, settings=settings), problems

    # -- outbound -------------------------------------------------------------------------
    def _touchpoint(self, conv: Conversation) -> Touchpoint | None:
        return self.core.directory.touchpoints.get(conv.touchpoint_id)

    async def check_outbound(self, conv: Conversation) -> None:
        tp = self._touchpoint(conv)
        if tp is None or not tp.active:
            raise Forbidden("this email touchpoint is not active", code="touchpoint_inactive")

    async def check_start(
        self, tp: Touchpoint, address: str, content: Content | None
    ) -> tuple[str, dict[str, str]]:
        """An agent writes first: a valid address, and a subject (a new email has no
        thread to take one from)."""
        problems: Problems = []
        [*to] = _addresses("address", [address], problems)
        if problems:
            raise InvalidInput([("address", problems[0][1])])
        subject = " ".join(str((content or {}).get("subject", "")).split())
        if not subject:
            raise InvalidInput([("content.subject", "a new email needs a subject")])
        return to[0], {"email": to[0], "subject": subject[:500]}

    async def check_content(self, conv: Conversation, agent: Agent, content: Content) -> Content:
        try:
            c = msgspec.convert(content, EmailContent)
        except msgspec.ValidationError as exc:
            raise InvalidInput([("content", str(exc))]) from None
        problems: Problems = []
        out: dict[str, Any] = {
            "direction": "out",
            "to": _addresses("to", c.to, problems),
            "cc": _addresses("cc", c.cc, problems),
            "bcc": _addresses("bcc", c.bcc, problems),
            "subject": " ".join(c.subject.split()),
            "html": sanitise(c.html) if c.html else "",
        }
        # The touchpoint's own address is never a recipient: its reader would import the
        # email as the customer's next one. A reply all's copy list has it (the email
        # came to it): dropped there; asked for in ``to``, refused.
        tp = self._touchpoint(conv)
        own = str(tp.settings.get("address", "")).lower() if tp is not None else ""
        if own and own in (a.lower() for a in out["to"]):
            problems.append(("content.to", "the touchpoint's own address cannot be a recipient"))
        for field in ("cc", "bcc"):
            out[field] = [a for a in out[field] if a.lower() != own]
        if problems:
            raise InvalidInput(problems)
        return {k: v for k, v in out.items() if v or k == "direction"}

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        tp = self._touchpoint(conv)
        if tp is None:
            return failed("the email touchpoint was deleted")
        try:
            settings = load(tp.settings)
        except msgspec.ValidationError:
            return failed("the email touchpoint's settings are not valid")
        return await self.outbound.deliver(tp, settings, conv, message)

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Nothing live: an email contact reads what ``deliver`` sends."""

    # -- web --------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return demo.routes(self) if self.core.settings.demo else []

    def api_routes(self) -> list[BaseRoute]:
        return [route(ep) for ep in api.endpoints(self)]

    def endpoints(self) -> list[Endpoint]:
        return api.endpoints(self)
