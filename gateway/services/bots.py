"""Bots before agents: the bot's side of a conversation a flow handed it
(docs/routing.md, "Bots before agents"; docs/integration-api.md, "Bots").

A bot is an integration endpoint: it is sent the conversation's start and the contact's
messages (outbox events, gateway/services/automations.py) and answers through the
integration API, here. Its messages are the system's, written in the bot's name
(``sender_id = "bot:<id>"``), delivered like an agent's: in the contact's open session
(chat) or as delivery jobs (tracked channels). Its turn ends with a handover to the
agents: it escalates (its transcript, if it sends one, travels as context for the
agent), the contact asks for a person (one of the handover words), or its timeout
passes (the router's Tick). What the contact said to the bot is shown to the agent as
context, not as new messages: the handover marks it read on the agent's side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import msgspec

import routing as r
from gateway import metrics
from gateway import protocol as p
from gateway.errors import ActionRefused, Conflict
from gateway.model.integrations import TranscriptLine, bot_target
from gateway.model.records import Conversation, Message
from gateway.model.text import clean_name, clean_text
from gateway.ports.store.base import Store
from gateway.services.automations import Announcer
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.notify import MessageNote, Notifier
from gateway.services.outbox import Outbox
from gateway.services.router_shell import RouterShell
from gateway.services.views import frame_for

_WORDS = re.compile(r"[^\W\d_]+")


def handover_words(setting: str) -> frozenset[str]:
    """GATEWAY_HANDOVER_WORDS as a set of case-folded words."""
    return frozenset(w.strip().casefold() for w in setting.split(",") if w.strip())


def asks_for_person(text: str, words: Iterable[str]) -> bool:
    """Whether a contact's message asks for a person: one of ``words``, as a whole
    word, case-insensitively ("Agent please", "I want a HUMAN!", not "agents' fees"
    unless "agents" is a word of the list)."""
    wanted = frozenset(words)
    return bool(wanted) and any(w in wanted for w in _WORDS.findall(text.casefold()))


class BotDesk:
    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        shell: RouterShell,
        notifier: Notifier,
        deliveries: Deliveries,
        announcer: Announcer,
        outbox: Outbox,
        clock: Callable[[], float],
        words: frozenset[str],
    ) -> None:
        self._store = store
        self._dir = directory
        self._shell = shell
        self._notifier = notifier
        self._deliveries = deliveries
        self._announcer = announcer
        self._outbox = outbox
        self._clock = clock
        self.words = words

    @staticmethod
    def check_holds(conv: Conversation, bot_id: str) -> None:
        if conv.state != "bot" or conv.bot_id != bot_id:
            raise Conflict(
                "this bot does not hold the conversation (it was handed over, or ended)",
                code="not_with_bot",
            )

    async def send(
        self, conv: Conversation, bot_id: str, client_msg_id: str, body: str
    ) -> tuple[Message, bool]:
        """The bot's message to the contact; idempotent on ``client_msg_id``."""
        self.check_holds(conv, bot_id)
        tracked = self._deliveries.tracks(conv.channel)
        if tracked:
            await self._deliveries.check(conv)  # the channel may refuse before it is stored
        now = self._clock()
        announce = self._announcer.messages(conv, to_bot=False)
        msg, created, conv = await self._store.append(
            conv.id,
            sender="system",
            sender_id=bot_target(bot_id),
            client_msg_id=client_msg_id,
            body=clean_text(body),
            now=now,
            delivery="pending" if tracked else "",
            announce=announce,
        )
        if created:
            metrics.MESSAGES.labels(sender="system").inc()
            if tracked:
                self._deliveries.wake()
            if announce is not None and announce.announced:
                self._outbox.wake(announce.announced)
        name = self._dir.touchpoint_name(bot_id)
        frame = p.encode(frame_for(msg, name))
        await self._notifier.contact(conv, MessageNote(msg, name, frame, conv.contact_unread))
        return msg, created

    async def add_context(
        self, conv: Conversation, lines: list[TranscriptLine], *, first: bool = False
    ) -> bool:
        """What was said before the gateway saw the conversation (an external bot's
        transcript), kept for the agent as context, its text cleaned as a message's. A
        line with nothing left once cleaned (control characters only) is left out: there
        is nothing to show, and a stored line is never empty. With ``first``, only if the
        conversation has none yet (Store.first_transcript). Whether lines were kept."""
        lines = [
            msgspec.structs.replace(line, text=text, name=clean_name(line.name))
            for line in lines
            if (text := clean_text(line.text))
        ]
        if not lines:
            return False
        if first:
            return await self._store.first_transcript(conv.id, lines, self._clock())
        await self._store.add_transcript(conv.id, lines, self._clock())
        return True

    async def hand_over(
        self,
        conv: Conversation,
        reason: r.HandoverReason,
        *,
        transcript: list[TranscriptLine] | None = None,
        to_queue_id: str | None = None,
        to_agent_id: str | None = None,
    ) -> Conversation:
        """End the bot's turn: the conversation waits for the agents from now."""
        if conv.state != "bot":
            raise Conflict("no bot holds the conversation", code="not_with_bot")
        await self.add_context(conv, transcript or [])
        await self._shell.apply(
            r.BotHandover(conv.id, reason, to_queue_id=to_queue_id, to_agent_id=to_agent_id)
        )
        return await self._store.get_conversation(conv.id)

    async def contact_wrote(self, conv: Conversation, msg: Message, fresh: bool) -> None:
        """After a contact's message (``conv`` as it left the conversation): a bot's
        conversation goes to the agents when the contact asks for a person."""
        if not fresh or conv.state != "bot" or not asks_for_person(msg.body, self.words):
            return
        try:
            await self._shell.apply(r.BotHandover(conv.id, "contact_asked"))
        except ActionRefused as exc:  # the bot or its timeout handed it over meanwhile
            if exc.code != "not_with_bot":
                raise
