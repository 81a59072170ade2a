"""Conversations, from the contact's side: start one, write in it, read it, and what a
channel reports back. Channel-neutral: chat's visitor socket and the messaging
channels' webhooks all come through here (the agent's side is in agent_desk.py; starting
a conversation and routing it in conversation_start.py; what the contact's side reads,
and how its messages are told to the others, in contact_io.py).

The message path is store first, acknowledge second, publish third: a message is
committed with its per-conversation sequence number before the sender is acknowledged,
then the other side is told. Whatever the bus drops, a client gets back by resuming
from its last seq, which reads the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import routing as r
from gateway import protocol as p
from gateway.aio import KeyedLocks
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.model.inbound import InboundMessage
from gateway.model.records import (
    LIVE_STATES,
    Conversation,
    Message,
)
from gateway.model.text import clean_name, clean_text, require_content
from gateway.ports.store.base import Stale, Store
from gateway.services.access import AccessPolicy
from gateway.services.attachments import Attachments
from gateway.services.automations import Announcer
from gateway.services.bots import BotDesk
from gateway.services.contacts import ContactService
from gateway.services.conversation_start import ConversationStart
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.effects import Effects
from gateway.services.notify import Notifier
from gateway.services.outbox import Outbox
from gateway.services.recent import RecentConversations, write_on_recent
from gateway.services.router_shell import RouterShell
from gateway.services.views import Summaries, ack_for, event_body, frame_for


class ConversationService(ConversationStart):
    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        shell: RouterShell,
        effects: Effects,
        contacts: ContactService,
        access: AccessPolicy,
        notifier: Notifier,
        summaries: Summaries,
        announcer: Announcer,
        outbox: Outbox,
        bots: BotDesk,
        files: Attachments,
        deliveries: Deliveries,
        clock: Callable[[], float],
        backlog_page: int,
        history_page: int,
        recent: RecentConversations | None = None,
    ) -> None:
        self._recent = recent or RecentConversations()
        self._files = files
        self._deliveries = deliveries
        self._store = store
        self._dir = directory
        self._shell = shell
        self._effects = effects
        self._contacts = contacts
        self._access = access
        self._notifier = notifier
        self._summaries = summaries
        self._announcer = announcer
        self._outbox = outbox
        self._bots = bots
        self._clock = clock
        self._backlog_page = backlog_page
        self._history_page = history_page
        # one inbound message at a time per contact address on this node: a provider's
        # concurrent webhooks (or its retry racing the original) start one conversation
        # and keep the order they arrived in
        self._receiving: KeyedLocks[tuple[str, str]] = KeyedLocks()

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, touchpoint_id: str, address: str) -> AsyncIterator[None]:
        """One writer of a contact's conversations on a touchpoint at a time (on this
        node): their messages, and an agent starting a conversation with them. Across
        nodes the store holds one live conversation per touchpoint and address (its
        one-live index): a start that loses there carries on with the one made."""
        async with self._receiving.hold((touchpoint_id, address)):
            yield

    async def get(self, conversation_id: str, *, recent: bool = False) -> Conversation:
        """The conversation; with ``recent``, perhaps as this node last wrote to it (only
        for a guarded write: gateway/services/recent.py)."""
        conv = self._recent.get(conversation_id) if recent else None
        return conv or await self._store.get_conversation(conversation_id)

    async def of_contact(
        self, touchpoint_id: str, address: str, conversation_id: str, *, recent: bool = False
    ) -> Conversation:
        """A conversation of this contact, or NotFound (also for someone else's: a
        contact cannot even learn that another's conversation exists). ``recent``: as
        for :meth:`get` (whose conversation it is never changes)."""
        try:
            conv = await self.get(conversation_id, recent=recent)
        except NotFound:
            raise NotFound("no such conversation") from None
        return self._access.check_contact(conv, address, touchpoint_id)

    async def receive(self, msg: InboundMessage) -> tuple[Conversation, Message, bool]:
        """A contact's message from a channel's provider: appended to their open
        conversation on the touchpoint, or to a new one. Idempotent on the provider's
        message id: a retry returns what the first delivery stored, and False.

        Its files are stored through the channel's rules first (a retry fetches none).
        What could not be passed on (files refused, content the adapter reported as
        unsupported) follows the message as a ``notice`` event: the agent's automatic
        notice."""
        tp = self._dir.touchpoints.get(msg.touchpoint_id)
        if tp is None or not tp.active:
            raise Forbidden("this touchpoint does not accept messages")
        # What a provider says about the contact is shown as typed text: one line, without
        # control or bidi formatting characters (docs/security.md, "Text shown to people").
        fields = {k: clean_name(v) for k, v in msg.fields.items() if clean_name(v)}
        # One message of a contact at a time: concurrent webhooks start one conversation
        # and keep their order.
        async with self.one_at_a_time(tp.id, msg.address):
            conv = await self._thread(msg)
            if conv is None:
                conv, _ = await self.start(tp.id, msg.address, fields)
            now = msg.sent_at if msg.sent_at is not None else self._clock()
            ids: list[str] = []
            notices = list(msg.unsupported)
            if msg.files and not await self._store.message_by_client_id(
                conv.id, "contact", msg.address, msg.provider_message_id
            ):
                ids, refused = await self._files.receive(conv, msg.address, msg.files)
                notices = refused + notices
            notice = (
                event_body("notice", text=("Not passed on: " + "; ".join(notices))[:2000])
                if notices
                else ""
            )
            if notices and not msg.body and not ids:
                # Nothing of it could be passed on: the notice takes its place (and its
                # provider id, so that a retry stores nothing twice).
                message, created, after = await self._store.append(
                    conv.id,
                    sender="contact",
                    sender_id=msg.address,
                    client_msg_id=msg.provider_message_id,
                    body=notice,
                    now=now,
                    kind="event",
                )
                await self._deliver_contact_message(message, after, fresh=False)
                return await self.route(after), message, created
            message, created, after = await self._append_contact(
                conv, msg.provider_message_id, msg.body, now, ids, address=msg.address
            )
            await self._deliver_contact_message(message, after, fresh=created)
            # Routed on its message, before the notice: agents are offered what was said.
            after = await self.route(after)
        if created and notice:
            event, _, after = await self._store.append(
                conv.id,
                sender="system",
                sender_id="",
                client_msg_id="",
                body=notice,
                now=now,
                kind="event",
            )
            await self._deliver_contact_message(event, after, fresh=False)
        after = await self.route(after)
        await self._bots.contact_wrote(after, message, created)
        return after, message, created

    async def _append_contact(
        self,
        conv: Conversation,
        client_msg_id: str,
        body: str,
        now: float,
        attachments: Sequence[str] = (),
        *,
        address: str = "",
        expect: Conversation | None = None,
    ) -> tuple[Message, bool, Conversation]:
        """Store a contact's message (with its files), without control or bidi formatting
        characters (docs/security.md, "Text shown to people"), announced to the webhooks
        that opted in and to the bot holding the conversation. ``address``: the sender's,
        when a channel threads it into a conversation of another address (email).
        ``expect``: stored only if the conversation is still as ``expect`` (else Stale)."""
        announce = self._announcer.messages(conv, to_bot=True)
        try:
            message, created, after = await self._store.append(
                conv.id,
                sender="contact",
                sender_id=address or conv.address,
                client_msg_id=client_msg_id,
                body=clean_text(body),
                now=now,
                attachments=attachments,
                announce=announce,
                expect=expect,
            )
        except Stale:
            self._recent.drop(conv.id)
            raise
        self._recent.put(after)
        if announce is not None and announce.announced:
            self._outbox.wake(announce.announced)
        return message, created, after

    async def _thread(self, msg: InboundMessage) -> Conversation | None:
        """The live conversation the channel says this message continues, if any."""
        if not msg.conversation_id:
            return None
        try:
            conv = await self._store.get_conversation(msg.conversation_id)
        except NotFound:
            return None
        if conv.touchpoint_id != msg.touchpoint_id or conv.state not in LIVE_STATES:
            return None
        return conv

    # -- writing, reading, typing ------------------------------------------------------
    async def contact_send(
        self,
        conv: Conversation,
        client_msg_id: str,
        body: str,
        attachments: Sequence[str] = (),
        *,
        skip: str = "",
        guarded: bool = False,
    ) -> p.Ack:
        """The contact's message, acknowledged with the stored message: ``skip`` is the
        ref of the socket that sent it, which the ack answers and the echo leaves out.
        ``guarded``: ``conv`` may be out of date (gateway/services/recent.py): stored only
        if it is not, else Stale."""
        msg, created, out = await self._write(
            conv, client_msg_id, body, attachments, skip, guarded=guarded
        )
        return ack_for(client_msg_id, msg, created, out)

    async def contact_send_recent(
        self,
        read: Callable[[bool], Awaitable[Conversation]],
        client_msg_id: str,
        body: str,
        attachments: Sequence[str] = (),
        *,
        skip: str = "",
    ) -> p.Ack:
        """The contact's message on the hot path: written on the conversation as this
        node last knew it (``read(True)``), no read of the store, with a guarded append;
        read again and decided again if it changed (gateway/services/recent.py)."""
        return await write_on_recent(
            read,
            lambda conv: self.contact_send(
                conv, client_msg_id, body, attachments, skip=skip, guarded=True
            ),
        )

    async def write(
        self,
        conv: Conversation,
        client_msg_id: str,
        body: str,
        attachments: Sequence[str] = (),
    ) -> tuple[Message, bool]:
        """The contact's message, with files they uploaded, in their live conversation;
        idempotent on ``client_msg_id`` (a retry returns the first message and False)."""
        msg, created, _ = await self._write(conv, client_msg_id, body, attachments, "")
        return msg, created

    async def _write(
        self,
        conv: Conversation,
        client_msg_id: str,
        body: str,
        attachments: Sequence[str],
        skip: str,
        *,
        guarded: bool = False,
    ) -> tuple[Message, bool, p.MessageOut | p.EventOut]:
        if conv.state not in LIVE_STATES:
            # A retry of a message stored before it ended (the ack was lost) is acked
            # again, as any retry is (docs/protocol.md); anything new is refused.
            stored = client_msg_id and await self._store.message_by_client_id(
                conv.id, "contact", conv.address, client_msg_id
            )
            if not stored:
                raise Conflict(
                    "the conversation has ended; start a new one", code="conversation_ended"
                )
            return stored, False, frame_for(stored, await self._summaries.sender_name(stored, conv))
        require_content(body, attachments)
        if attachments:
            await self._files.check_message(conv, attachments)
        msg, created, after = await self._append_contact(
            conv,
            client_msg_id,
            body,
            self._clock(),
            attachments,
            expect=conv if guarded else None,
        )
        # Published again for a retry too: the first attempt may have stored the message
        # and then failed to publish it (clients drop what they have by seq).
        out = await self._deliver_contact_message(msg, after, fresh=created, skip=skip)
        # A new conversation's first message routes it. The contact's other tab (on any
        # node) may be writing at the same moment: the store announces each message
        # either at its append or at the routing, never both, never neither.
        after = await self.route(after)
        await self._bots.contact_wrote(after, msg, created)
        return msg, created, out

    async def transfer(
        self,
        conv: Conversation,
        *,
        to_agent_id: str | None = None,
        to_queue_id: str | None = None,
    ) -> Conversation:
        """The contact's side (a third party) moves the conversation on: from its bot to
        the agents, or from the agent who holds it to another agent or a queue."""
        if conv.state == "bot":
            return await self._bots.hand_over(
                conv, "transferred", to_queue_id=to_queue_id, to_agent_id=to_agent_id
            )
        if conv.state != "assigned" or conv.owner_agent_id is None:
            raise Conflict(
                f"the conversation is {conv.state}: only one an agent holds, or a bot, is "
                "transferred",
                code="not_assigned",
            )
        await self._shell.apply(
            r.Transfer(
                conv.id, conv.owner_agent_id, to_agent_id=to_agent_id, to_queue_id=to_queue_id
            )
        )
        return await self._store.get_conversation(conv.id)
