"""A chat touchpoint's mailbox: the email touchpoint named by its
``settings.email_touchpoint_id`` answers its visitors by email (docs/widget.md, "Answers
and transcripts by email").

- **Answers to left messages.** While a conversation the visitor left as a message is
  answered and the visitor is not connected, the agent's message is a delivery job (the
  delivery worker, gateway/services/deliveries.py): this module is the chat channel's
  outbound side for it, and sends it to the email the visitor gave through the email
  adapter's carrier (MailCarrier in the same module). The answer also stays in the chat
  for the visitor's next visit. Without a mailbox nothing is emailed, and the console says
  the answer is seen on the next visit only.
- **Transcripts.** After the end, the visitor may ask for the transcript by email (the
  ``transcript`` frame): sent at once, at most :data:`TRANSCRIPT_LIMIT` times per
  conversation.
"""

from __future__ import annotations

import html
from typing import Any

from email_validator import EmailNotValidError, validate_email

from channels.base import Core, Problems
from gateway import protocol as p
from gateway.aio import KeyedLocks
from gateway.errors import Conflict, InvalidInput, Unavailable
from gateway.model.channel_state import Content
from gateway.model.records import Agent, Conversation, Message, Touchpoint
from gateway.services.deliveries import Mail, Outcome, failed
from gateway.services.transcripts import render, stamp

SETTING = "email_touchpoint_id"
TRANSCRIPT_LIMIT = 3
# where the transcripts sent so far are counted (the conversation's channel content)
TRANSCRIPTS_KEY = "chat-transcripts"
ENDED = ("wrapup", "closed")


def check_settings(touchpoints: dict[str, Touchpoint], settings: dict[str, Any]) -> Problems:
    """Problems with a chat touchpoint's settings: only ``email_touchpoint_id``, naming
    an email touchpoint that sends."""
    problems: Problems = [
        (f"settings.{k}", "unknown setting: a chat touchpoint has only email_touchpoint_id")
        for k in settings
        if k != SETTING
    ]
    value = settings.get(SETTING)
    if value is None:
        return problems
    where = f"settings.{SETTING}"
    if not isinstance(value, str) or not value:
        problems.append((where, "the id of an email touchpoint, or leave it out"))
        return problems
    tp = touchpoints.get(value)
    if tp is None:
        problems.append((where, f"unknown touchpoint id {value}"))
    elif tp.channel != "email":
        problems.append((where, f"{value} is a {tp.channel} touchpoint, not an email one"))
    elif tp.direction == "inbound":
        problems.append((where, f"{value} only receives email; choose one that sends"))
    return problems


def site_name(tp: Touchpoint | None) -> str:
    if tp is None:
        return "our website"
    return tp.display_name or tp.domain or tp.name


def _paragraphs(text: str) -> str:
    return "".join(
        "<p>" + html.escape(part).replace("\n", "<br>") + "</p>"
        for part in text.strip().split("\n\n")
        if part.strip()
    )


class EmailFollowUp:
    """The chat channel's outbound side for what goes by email (registered with the
    delivery service as chat's outbound channel)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._locks: KeyedLocks[str] = KeyedLocks()

    # -- which mailbox ------------------------------------------------------------------
    def mailbox(self, chat_touchpoint_id: str) -> Touchpoint | None:
        """The email touchpoint that sends for this chat touchpoint now, if any."""
        tp = self.core.directory.touchpoints.get(chat_touchpoint_id)
        carrier = self.core.deliveries.mail
        if tp is None or carrier is None or not tp.settings.get(SETTING):
            return None
        return carrier.sender(str(tp.settings[SETTING]))

    def offers(self, chat_touchpoint_id: str) -> bool:
        """Whether the bootstrap tells the widget that answers and transcripts go by
        email."""
        return self.mailbox(chat_touchpoint_id) is not None

    async def follows_up(self, conv: Conversation) -> bool:
        """An agent's message to this conversation goes by email: a left message, with
        an email, a mailbox, and the visitor not connected (who reads it live)."""
        if conv.channel != "chat" or not conv.left_message or not conv.fields.get("email"):
            return False
        if self.mailbox(conv.touchpoint_id) is None:
            return False
        return not await self.core.presence.is_online("contact", f"chat:{conv.address}")

    # -- the delivery worker's outbound channel -----------------------------------------
    async def check_outbound(self, conv: Conversation) -> None:
        """Nothing refuses an answer: without a mailbox it waits for the next visit."""

    async def check_content(self, conv: Conversation, agent: Agent, content: Content) -> Content:
        raise InvalidInput([("content", "chat messages carry no content")])

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        chat = self.core.directory.touchpoints.get(conv.touchpoint_id)
        mailbox = self.mailbox(conv.touchpoint_id)
        carrier = self.core.deliveries.mail
        if mailbox is None or carrier is None:
            return failed("no email touchpoint sends for this site now; it is shown on the "
                          "visitor's next visit")  # fmt: skip
        site = site_name(chat)
        agent = self.core.directory.agent_name(message.sender_id) or site
        left = [
            m
            for m in await self.core.conversations.backlog(conv, 0)
            if isinstance(m, p.MessageOut) and m.sender == "visitor" and m.seq < message.seq
        ][:5]
        quoted = "\n".join(f"> {line}" for m in left for line in m.body.splitlines())
        when = stamp(left[0].at) if left else stamp(conv.created_at)
        footer = (
            f"You left this message on {site} ({when}):\n{quoted}\n\n"
            f"Reply to this email to answer us. The answer is also in the chat on "
            f"{site} the next time you open it."
        )
        text = f"{agent} wrote:\n\n{message.body}\n\n-- \n{footer}"
        body_html = (
            f"<p><strong>{html.escape(agent)}</strong> wrote:</p>{_paragraphs(message.body)}"
            f"<hr>{_paragraphs(footer)}"
        )
        return await carrier.send(
            mailbox.id,
            Mail(
                to=conv.fields["email"],
                subject=f"Re: your message to {site}",
                text=text,
                html=body_html,
                from_name=site,
                key=f"chat-answer/{conv.id}/{message.seq}",
                attachments=message.attachments,
            ),
        )

    # -- the console's note ---------------------------------------------------------------
    async def conversation_state(self, conv: Conversation) -> p.ChannelState | None:
        if not conv.left_message:
            return None
        mailbox = self.mailbox(conv.touchpoint_id)
        email = conv.fields.get("email", "")
        if mailbox is None or not email:
            return p.ChannelState(
                attachments=True,
                notice="No mailbox answers this site's left messages: the visitor sees "
                "your answer on their next visit only.",
            )
        return p.ChannelState(
            attachments=True,
            notice=f"Your answer is emailed to {email} (from {mailbox.name}) and shown on "
            "the visitor's next visit.",
        )

    # -- transcripts ----------------------------------------------------------------------
    async def transcript(self, conv: Conversation, address: str) -> int:
        """Email the ended conversation's transcript to ``address``; how many were sent
        for it so far. Refused: a bad address (422), not ended (409 not_ended), no
        mailbox (409 transcript_unavailable), over the limit (409 transcript_limit), the
        mail server refusing now (503 transcript_not_sent, not counted)."""
        try:
            to = validate_email(
                address.strip(), check_deliverability=False, test_environment=True
            ).normalized
        except EmailNotValidError as exc:
            raise InvalidInput([("email", str(exc))], code="invalid_field") from None
        if conv.state not in ENDED:
            raise Conflict("a transcript is sent once the chat has ended", code="not_ended")
        mailbox = self.mailbox(conv.touchpoint_id)  # None too without a carrier
        if mailbox is None:
            raise Conflict(
                "transcripts by email are not offered on this site",
                code="transcript_unavailable",
            )
        # one request of a conversation at a time on this node, so that two tabs do not
        # both pass the limit (across nodes a race at the limit may send one more)
        async with self._locks.hold(conv.id):
            return await self._send_transcript(conv, mailbox.id, to)

    async def _send_transcript(self, conv: Conversation, mailbox_id: str, to: str) -> int:
        carrier = self.core.deliveries.mail
        assert carrier is not None  # checked by the caller
        state = self.core.state
        record = await state.content(conv.id, TRANSCRIPTS_KEY) or {}
        done = list(record.get("sent", []))
        if len(done) >= TRANSCRIPT_LIMIT:
            raise Conflict(
                f"at most {TRANSCRIPT_LIMIT} transcripts are sent per chat",
                code="transcript_limit",
            )
        site = site_name(self.core.directory.touchpoints.get(conv.touchpoint_id))
        text, body_html = render(await self.core.conversations.backlog(conv, 0), site=site)
        outcome = await carrier.send(
            mailbox_id,
            Mail(
                to=to,
                subject=f"Your chat with {site}",
                text=text,
                html=body_html,
                from_name=site,
                key=f"chat-transcript/{conv.id}/{len(done) + 1}",
                automatic=True,
            ),
        )
        if not outcome.sent:
            raise Unavailable(
                "the transcript could not be sent now; try again later",
                code="transcript_not_sent",
            )
        done.append({"to": to, "at": self.core.clock(), "message_id": outcome.provider_id})
        await state.put_content(conv.id, TRANSCRIPTS_KEY, {"sent": done})
        return len(done)
