"""The email touchpoint as a carrier of other channels' email (MailCarrier in
gateway/services/deliveries.py): a chat's answer to a left message, a chat transcript.
Sent through the touchpoint's SMTP server with its address as From (so a reply lands in its mailbox), a Message-ID
derived from the mail's key (the same on every attempt), and a copy in Sent."""

from __future__ import annotations

import hashlib
import logging

import msgspec

from channels.email.compose import Outgoing, build
from channels.email.sending import Sender
from channels.email.settings import load
from channels.email.transport import MailError
from gateway.model.records import Touchpoint
from gateway.services.deliveries import Mail, Outcome, failed, sent

log = logging.getLogger("gateway.email")


def mail_message_id(key: str, address: str) -> str:
    domain = address.rpartition("@")[2] or "gateway.invalid"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"<mail.{digest}@{domain}>"


class Carrier(Sender):
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
        if (holding := await self._held(tp)) is not None:
            return holding
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
        raw = bytes(build(out, now=self._core.clock(), files=await self._files(mail.attachments)))
        if isinstance(refused := await self._submit(tp, settings, raw, [mail.to]), Outcome):
            return refused  # one recipient: refused, the server raised
        if settings.sent_folder:
            try:
                await self._keep_copy(tp, settings, raw)
            except MailError as exc:
                log.warning("%s sent, but no copy in Sent: %s", out.message_id, exc.reason)
        return sent(out.message_id)
