"""Sending what agents (and the auto-reply) write, through the touchpoint's SMTP server.

The delivery worker (gateway/services/deliveries.py) hands over one stored message at a
time, at least once. Sending is made effectively exactly once:

1. the message's Message-ID is derived from its conversation and seq, so every attempt
   sends the same id;
2. before the SMTP transaction, the attempt is recorded on the message's content
   (``sending``); after the server accepts it, a copy goes to the mailbox's Sent folder;
3. an attempt that finds an earlier one recorded first looks for the Message-ID in the
   Sent folder: found, the message was sent and is not sent again.

What remains is a crash in the milliseconds between the server's acceptance and the copy
to Sent: the retry sends it again, with the same Message-ID, which mail clients show
once. docs/channels/email.md says so.
"""

from __future__ import annotations

import logging

import msgspec

from channels.email.compose import (
    Outgoing,
    build,
    fill_variables,
    outbound_message_id,
    recipients,
    reply_subject,
    thread_headers,
)
from channels.email.html import sanitise
from channels.email.sending import Sender
from channels.email.settings import EmailSettings
from channels.email.transport import MailError
from gateway.errors import GatewayError
from gateway.model.channel_state import Content
from gateway.model.records import Conversation, Message, Touchpoint
from gateway.services.deliveries import Outcome, failed, sent

log = logging.getLogger("gateway.email")


def latest_inbound(contents: dict[str, Content]) -> Content | None:
    """The newest email the contact side wrote in the conversation."""
    inbound = [c for c in contents.values() if c.get("direction") == "in"]
    return max(inbound, key=lambda c: int(c.get("seq", 0))) if inbound else None


class Outbound(Sender):
    async def outgoing(
        self, tp: Touchpoint, settings: EmailSettings, conv: Conversation, message: Message
    ) -> tuple[Outgoing, Content]:
        """What the message says as an email: its own content (recipients, subject,
        HTML), or a reply to the thread's latest email when it has none (an agent's
        plain reply from the console)."""
        state = self._core.state
        own = await state.content(conv.id, message.client_msg_id) or {}
        contents = await state.contents(conv.id)
        parent = latest_inbound(contents) or {}
        if own.get("in_reply_to") is not None and "references" in own:
            in_reply_to, references = own["in_reply_to"], list(own["references"])
        else:
            in_reply_to, references = thread_headers(
                parent.get("message_id", ""), list(parent.get("references", []))
            )
        # as an email client's Reply: to the email answered (a colleague in CC who wrote
        # into the thread gets the answer; Reply all copies the others)
        default_to = (
            (parent.get("reply_to") or [])[:1]
            or ([parent["from"]] if parent.get("from") else [])
            or [conv.address]
        )
        subject = own.get("subject") or reply_subject(parent.get("subject", ""))
        signature = ""
        if settings.signature.enabled and not own.get("auto_reply"):
            signature = fill_variables(
                settings.signature.html, await self._variables(tp, conv, message)
            )
        out = Outgoing(
            from_addr=settings.address,
            from_name=tp.name,
            to=list(own.get("to") or default_to),
            cc=list(own.get("cc") or []),
            bcc=list(own.get("bcc") or []),
            subject=subject,
            html=sanitise(own["html"]) if own.get("html") else "",
            text="" if own.get("html") else message.body,
            message_id=outbound_message_id(conv.id, message.seq, settings.address),
            in_reply_to=in_reply_to,
            references=references,
            auto_reply=bool(own.get("auto_reply")),
            signature_html=signature,
        )
        return out, own

    async def _variables(
        self, tp: Touchpoint, conv: Conversation, message: Message
    ) -> dict[str, str]:
        agent = self._core.directory.agents.get(message.sender_id)
        contact = await self._core.contacts.get(conv.contact_id)
        return {
            "agent.name": agent.name if agent else "",
            "agent.email": agent.email if agent else "",
            "contact.name": contact.name,
            "contact.email": contact.email or conv.address,
            "contact.phone": contact.phone,
            "touchpoint.name": tp.name,
        }

    async def deliver(
        self, tp: Touchpoint, settings: EmailSettings, conv: Conversation, message: Message
    ) -> Outcome:
        state = self._core.state
        if (holding := await self._held(tp)) is not None:
            return holding
        out, own = await self.outgoing(tp, settings, conv, message)
        if own.get("sending") and settings.sent_folder:
            try:
                if await self._in_sent(tp, settings, out.message_id):
                    log.info("%s/%d was sent before a crash; not sent again", conv.id, message.seq)
                    await self._sent(tp, conv, message, out, own)
                    return sent(out.message_id)
            except MailError as exc:
                return failed(f"could not check whether it was sent: {exc.reason}", retryable=True)
        own = {**own, "direction": "out", "sending": self._core.clock()}
        await state.put_content(conv.id, message.client_msg_id, own)
        files = await self._files(message.attachments)
        raw = bytes(build(out, now=self._core.clock(), files=files))
        refused = await self._submit(tp, settings, raw, recipients(out))
        if isinstance(refused, Outcome):
            return refused
        if settings.sent_folder:
            try:
                await self._keep_copy(tp, settings, raw)
            except MailError as exc:
                log.warning("%s/%d sent, but no copy in Sent: %s", conv.id, message.seq, exc.reason)
        await self._sent(tp, conv, message, out, own)
        if refused:
            # Sent to the others: not retried (they would get it twice), and the message
            # is "sent"; the agent reads who did not get it in the conversation.
            log.info("%s/%d sent; %d recipient(s) refused", conv.id, message.seq, len(refused))
            try:
                await self._core.conversations.notice(
                    conv,
                    f"smtp-refused-{message.seq}",
                    "Your email was sent, but the mail server refused "
                    + ("this recipient" if len(refused) == 1 else "these recipients")
                    + ", who did not get it: "
                    + "; ".join(refused)[:1500],
                )
            except GatewayError as exc:
                # The email is out: a failure here must not make it a failed attempt,
                # which the worker would retry, sending it to everyone again.
                log.warning("%s/%d: refused recipients not told: %s", conv.id, message.seq, exc)
        return sent(out.message_id)

    async def _sent(
        self, tp: Touchpoint, conv: Conversation, message: Message, out: Outgoing, own: Content
    ) -> None:
        """Remember what went out: its id threads the customer's answer back here."""
        state = self._core.state
        record = {
            **own,
            **msgspec.to_builtins(out),
            "direction": "out",
            "seq": message.seq,
            "sending": own.get("sending"),
        }
        record.pop("signature_html", None)
        await state.put_content(conv.id, message.client_msg_id, record)
        await state.remember(tp.id, out.message_id, conv.id, message.seq)

    async def _in_sent(self, tp: Touchpoint, settings: EmailSettings, message_id: str) -> bool:
        mailbox = self._mailbox(tp, settings)
        try:
            await mailbox.open()
            return await mailbox.contains(settings.sent_folder, message_id)
        finally:
            await mailbox.close()
