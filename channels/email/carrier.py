"""The email touchpoint as a carrier of other channels' email (MailCarrier in
gateway/services/deliveries.py): a chat's answer to a left message, a chat transcript.
Sent through the touchpoint's SMTP server with its address as From (so a reply lands in its mailbox), a Message-ID
derived from the mail's key (the same on every attempt), and a copy in Sent."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

import msgspec

from channels.base import Core
from channels.email.compose import File, Outgoing, build
from channels.email.settings import EmailSettings, load
from channels.email.transport import Mailbox, MailError, Submission
from gateway.model.records import Touchpoint
from gateway.services.deliveries import Mail, Outcome, failed, held, sent

log = logging.getLogger("gateway.email")


def mail_message_id(key: str, address: str) -> str:
    domain = address.rpartition("@")[2] or "gateway.invalid"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"<mail.{digest}@{domain}>"


class Carrier:
    def __init__(
        self,
        core: Core,
        submission: Callable[[Touchpoint, EmailSettings], Submission],
        mailbox: Callable[[Touchpoint, EmailSettings], Mailbox],
        connection_lost: Callable[[Touchpoint, str], Awaitable[None]],
    ) -> None:
        self._core = core
        self._submission = submission
        self._mailbox = mailbox
        self._lost = connection_lost
        self.hold_retry = 15.0

    def sender(self, touchpoint_id: str) -> Touchpoint | None:
        tp = self._core.directory.touchpoints.get(touchpoint_id)
        if tp is None or tp.channel != "email" or not tp.active or tp.direction == "inbound":
            return None
        return tp

    async def send(self, touchpoint_id: str, mail: Mail) -> Outcome:
        tp = self.sender(touchpoint_id)
        if tp is None:
            return failed("the email touchpoint that sends it is gone, inactive or receive-only")
        try:
            settings = load(tp.settings)
        except msgspec.ValidationError:
            return failed("the email touchpoint's settings are not valid")
        connection = await self._core.state.connection(tp.id)
        if connection is not None and connection.status == "lost":
            return held(f"email provider connection lost: {connection.reason}", self.hold_retry)
        out = Outgoing(
            from_addr=settings.address,
            from_name=mail.from_name or tp.name,
            to=[mail.to],
            subject=mail.subject,
            html=mail.html,
            text=mail.text,
            message_id=mail_message_id(mail.key, settings.address),
            auto_reply=mail.automatic,
        )
        raw = bytes(build(out, now=self._core.clock(), files=await self._files(mail)))
        try:
            await self._submission(tp, settings).send(raw, settings.address, [mail.to])
        except MailError as exc:
            if exc.auth:
                await self._lost(tp, exc.reason)
                return held(exc.reason, self.hold_retry)
            return failed(exc.reason, retryable=exc.retryable)
        if settings.sent_folder:
            mailbox = self._mailbox(tp, settings)
            try:
                await mailbox.open()
                await mailbox.append(settings.sent_folder, raw)
            except MailError as exc:
                log.warning("%s sent, but no copy in Sent: %s", out.message_id, exc.reason)
            finally:
                await mailbox.close()
        return sent(out.message_id)

    async def _files(self, mail: Mail) -> list[File]:
        out: list[File] = []
        for a in mail.attachments:
            record = await self._core.attachments.get(a.id)
            blob = await self._core.attachments.read(record)
            out.append((a.name, a.content_type, b"".join([c async for c in blob.chunks])))
        return out
