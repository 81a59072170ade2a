"""An email from the mailbox into a conversation: parsed, checked against what was
imported before (its Message-ID: a re-delivered email is a no-op, whichever
conversation it went to), threaded by In-Reply-To and References, stored with its
content (subject, sanitised HTML, recipients, attachments' list), and answered once per
thread by the touchpoint's auto-reply when the rules allow (rules.py)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable

from channels.base import Core
from channels.email import rules
from channels.email.compose import reply_subject
from channels.email.html import html_to_text
from channels.email.mime import ParsedEmail, parse
from channels.email.settings import EmailSettings
from channels.email.transport import MAX_RAW_BYTES
from channels.webhooks import InboundInProgress, claim, release
from gateway.model.channel_state import Content
from gateway.model.inbound import InboundFile, InboundMessage
from gateway.model.records import LIVE_STATES, Touchpoint

log = logging.getLogger("gateway.email")

# An email bigger than this is not read (its attachments could not be accepted anyway:
# 25 MB of attachments is about 34 MB once base64-encoded); the agent is told.
AUTO_REPLY_ID = "email-auto-reply"
UNKNOWN_SENDER = "unknown-sender@sender.invalid"


def provider_id(message_id: str) -> str:
    """The Message-ID as the conversation's client message id (at most 200 characters;
    a longer one is hashed, stably)."""
    if len(message_id) <= 200:
        return message_id
    return "<sha256:" + hashlib.sha256(message_id.encode()).hexdigest() + ">"


def notices(email: ParsedEmail) -> list[str]:
    """What the agent is told about this email beyond its text."""
    out = list(email.problems)
    for a in email.refused_attachments:
        out.append(
            f"the attachment {a.name!r} ({a.content_type}, {a.size} bytes) was not accepted:"
            " only the listed types, 25 MB in total per email"
        )
    return out


def files_of(email: ParsedEmail) -> tuple[InboundFile, ...]:
    """The accepted attachments, for the attachments service (which checks each again
    against the email rule: its type from the content, the sizes)."""

    def opener(data: bytes) -> Callable[[], AsyncIterator[bytes]]:
        async def chunks() -> AsyncIterator[bytes]:
            yield data

        return chunks

    return tuple(
        InboundFile(name=a.name, open=opener(a.data), content_type=a.content_type, size=a.size)
        for a in email.attachments
        if a.allowed and a.data
    )


def content_of(email: ParsedEmail, seq: int, told: list[str], mailbox: str) -> Content:
    return {
        "direction": "in",
        "seq": seq,
        # the touchpoint's address it came to: the console's Reply all leaves it out
        "mailbox": mailbox,
        "message_id": email.message_id,
        "from": email.from_addr,
        "from_name": email.from_name,
        "reply_to": email.reply_to,
        "to": email.to,
        "cc": email.cc,
        "subject": email.subject,
        "date": email.date,
        "in_reply_to": email.in_reply_to,
        "references": email.references,
        "text": email.text,
        "quoted_text": email.quoted_text,
        "html": email.html,
        "quoted_html": email.quoted_html,
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "inline": a.inline,
                "allowed": a.allowed,
            }
            for a in email.attachments
        ],
        "notices": told,
    }


def too_large(raw: bytes, size: int) -> ParsedEmail:
    """An email of ``size`` bytes, over the limit, from its header section (``raw``: that
    section, or the whole message)."""
    head = parse(raw[: 64 * 1024].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
    return ParsedEmail(
        message_id=head.message_id if head.message_id else "",
        from_addr=head.from_addr,
        from_name=head.from_name,
        subject=head.subject,
        in_reply_to=head.in_reply_to,
        references=head.references,
        problems=[f"the email is {size} bytes, over the {MAX_RAW_BYTES} bytes read; "
                  "ask the sender to send it in parts"],
    )  # fmt: skip


class Inbound:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def take(self, tp: Touchpoint, settings: EmailSettings, raw: bytes, size: int) -> bool:
        """Import one raw email of ``size`` bytes (``raw``: only its header section when
        that is over MAX_RAW_BYTES); False when it was imported before. Raises only when
        the core cannot store it (the caller retries; nothing was half-written)."""
        email = parse(raw) if size <= MAX_RAW_BYTES else too_large(raw, size)
        state = self._core.state
        if await state.find_ref(tp.id, [email.message_id]) is not None:
            return False
        # Two nodes may import one email at once (the mailbox's lease moved while the
        # last holder was storing it): one claims it, the other finds it or tries later.
        if not await claim(self._core, tp.id, email.message_id):
            if await state.find_ref(tp.id, [email.message_id]) is not None:
                return False
            raise InboundInProgress()
        try:
            return await self._store(tp, settings, email)
        except BaseException:
            await release(self._core, tp.id, email.message_id)
            raise

    async def _store(self, tp: Touchpoint, settings: EmailSettings, email: ParsedEmail) -> bool:
        state = self._core.state
        client_id = provider_id(email.message_id)
        thread = await state.find_ref(tp.id, rules.thread_refs(email))
        told = notices(email)
        body = email.body or ("(no text)" if not email.attachments else "")
        address = email.from_addr or UNKNOWN_SENDER
        fields = {"name": email.from_name, "email": email.from_addr, "subject": email.subject}
        conv, message, created = await self._core.conversations.receive(
            InboundMessage(
                touchpoint_id=tp.id,
                address=address,
                provider_message_id=client_id,
                body=body[:100_000],
                fields={k: v[:500] for k, v in fields.items()},
                files=files_of(email),
                # what was not accepted: the agent's automatic notice (a notice event)
                unsupported=tuple(told),
                conversation_id=thread.conversation_id if thread else "",
            )
        )
        await state.put_content(
            conv.id, client_id, content_of(email, message.seq, told, settings.address)
        )
        await state.remember(tp.id, email.message_id, conv.id, message.seq)
        if created and conv.state in LIVE_STATES:
            await self._auto_reply(tp, settings, conv.id, email)
        return created

    async def _auto_reply(
        self, tp: Touchpoint, settings: EmailSettings, conversation_id: str, email: ParsedEmail
    ) -> None:
        state = self._core.state
        key = f"{AUTO_REPLY_ID}:{conversation_id}"
        done = await state.content(conversation_id, key) is not None
        decision = rules.auto_reply(
            email, enabled=settings.auto_reply.enabled, already_replied=done
        )
        if not decision.send:
            if settings.auto_reply.enabled:
                log.info("no auto-reply on %s: %s", conversation_id, decision.why)
            return
        to = email.reply_to[:1] or [email.from_addr]
        await state.put_content(
            conversation_id,
            key,
            {
                "direction": "out",
                "auto_reply": True,
                "to": to,
                "subject": reply_subject(email.subject),
                "html": settings.auto_reply.html,
                "in_reply_to": email.message_id,
                "references": [*email.references, email.message_id][-20:],
            },
        )
        conv = await self._core.conversations.get(conversation_id)
        await self._core.conversations.system_send(
            conv, key, html_to_text(settings.auto_reply.html)[:100_000]
        )
