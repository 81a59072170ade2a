"""The contact's side of a conversation beyond writing in it: what it reads (messages,
history with the escalated transcript, a resume's backlog, its files), its read marker
and typing, and how what reaches the conversation is told to whoever shows it (the
contact's sessions, the owner, the Inbox rows). A base of
:class:`~gateway.services.conversations.ConversationService`, which sets the fields
declared here.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence

import msgspec

from gateway import metrics
from gateway import protocol as p
from gateway.errors import Conflict
from gateway.model.integrations import TranscriptLine
from gateway.model.records import LIVE_STATES, Attachment, Conversation, Message
from gateway.ports.store.base import Store
from gateway.services.access import AccessPolicy
from gateway.services.attachments import Attachments, contact_reader
from gateway.services.contacts import ContactService
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.effects import Effects, reply_sound
from gateway.services.notify import MessageNote, Notifier, UnreadNote
from gateway.services.recent import RecentConversations
from gateway.services.router_shell import RouterShell
from gateway.services.views import Summaries, event_body, frame_for

# the counter's child, looked up once: labels() takes a lock and a dict per call
_COUNTED = metrics.MESSAGES.labels(sender="contact")


class ContactIO:
    _store: Store
    _dir: Directory
    _shell: RouterShell
    _effects: Effects
    _contacts: ContactService
    _access: AccessPolicy
    _notifier: Notifier
    _summaries: Summaries
    _files: Attachments
    _deliveries: Deliveries
    _clock: Callable[[], float]
    _backlog_page: int
    _history_page: int
    _recent: RecentConversations

    async def system_send(
        self, conv: Conversation, client_msg_id: str, body: str, sender_name: str = ""
    ) -> tuple[Message, bool]:
        """A message the system writes to the contact (a channel's auto-reply): stored
        once per ``client_msg_id``, delivered like an agent's (a delivery job on tracked
        channels), shown to the agents."""
        tracked = self._deliveries.tracks(conv.channel)
        msg, created, after = await self._store.append(
            conv.id,
            sender="system",
            sender_id="channel",
            client_msg_id=client_msg_id,
            body=body,
            now=self._clock(),
            delivery="pending" if tracked else "",
        )
        if tracked and created:
            self._deliveries.wake()
        if created:
            name = sender_name or self._dir.display_name(conv.touchpoint_id)
            frame = p.encode(frame_for(msg, name))
            await self._notifier.contact(after, MessageNote(msg, name, frame, after.contact_unread))
            if after.owner_agent_id and after.state == "assigned":
                await self._notifier.agent(after.owner_agent_id, frame)
        return msg, created

    async def notice(self, conv: Conversation, client_msg_id: str, text: str) -> Message:
        """An automatic notice to the agent in the conversation (an unsupported message
        from the contact, ...); stored as an event, never sent to the contact.
        Idempotent on ``client_msg_id``."""
        msg, _, after = await self._store.append(
            conv.id,
            sender="system",
            sender_id="notice",
            client_msg_id=client_msg_id,
            body=event_body("notice", text=text),
            now=self._clock(),
            kind="event",
        )
        if after.owner_agent_id and after.state in ("assigned", "wrapup"):
            await self._notifier.agent(after.owner_agent_id, frame_for(msg, ""))
        return msg

    async def changed(self, conv: Conversation) -> None:
        """The conversation's channel state changed (an opt-out, ...): its row again to
        whoever shows it (its owner, or the agents whose Inbox has it)."""
        conv = await self._store.get_conversation(conv.id)
        router = self._shell.router
        if conv.owner_agent_id and conv.state in ("assigned", "wrapup"):
            viewers = {conv.owner_agent_id}
        else:
            view = router.conversation(conv.id)
            only = view.dedicated_agent_id if view and view.dedicated else None
            viewers = self._access.inbox_viewers(conv.queue_ids, only)
        for agent_id, summary in await self._summaries.summaries(router, viewers, conv):
            await self._notifier.agent(agent_id, p.ConversationUpdate(conversation=summary))

    async def rows_gone_with(
        self, convs: list[Conversation]
    ) -> list[tuple[str, p.ConversationSummary]]:
        """Before a contact is deleted: the rows of its open conversations ``convs`` in
        the lists of the agents who have them (Inbox, ringing, Assigned, wrap-up), each
        marked ``gone``, for :meth:`rows_gone` to send once the deletion is done (read
        now: the rows need the contact and the conversation)."""
        router = self._shell.router
        out: list[tuple[str, p.ConversationSummary]] = []
        for conv in convs:
            view = router.conversation(conv.id)
            if view is None:
                continue
            only = view.dedicated_agent_id if view.dedicated else None
            candidates = self._access.inbox_viewers(conv.queue_ids, only)
            candidates.update(a for a in (view.owner_agent_id, view.offer_agent_id) if a)
            for agent_id, summary in await self._summaries.summaries(router, candidates, conv):
                if summary.place != "gone":
                    out.append((agent_id, msgspec.structs.replace(summary, place="gone")))
        return out

    async def rows_gone(self, rows: list[tuple[str, p.ConversationSummary]]) -> None:
        """The rows of :meth:`rows_gone_with` to their agents: the conversations leave
        their lists, as a transferred or closed one does."""
        for agent_id, summary in rows:
            await self._notifier.agent(agent_id, p.ConversationUpdate(conversation=summary))

    async def messages(self, conv: Conversation, after_seq: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages after ``after_seq``, ascending."""
        return await self._store.messages(conv.id, after_seq=after_seq, limit=limit)

    async def _deliver_contact_message(
        self, msg: Message, conv: Conversation, *, fresh: bool, skip: str = ""
    ) -> p.MessageOut | p.EventOut:
        """To the contact's other sessions (not ``skip``, the socket that sent it: its
        ack carries it), and to the owner (one frame with the unread count and the reply
        sound) or to the Inbox rows; ``conv`` is as it was right after. Its frame."""
        if fresh:
            _COUNTED.inc()
        name = await self._summaries.sender_name(msg, conv)
        out = frame_for(msg, name)
        frame = p.encode(out)
        await self._notifier.contact(conv, MessageNote(msg, name, frame, skip=skip, out=out))
        if conv.state == "new":
            return out  # not routed yet: its arrival tells the agents, with this message
        owner = conv.owner_agent_id if conv.state == "assigned" else None
        if owner:
            if isinstance(out, p.MessageOut):
                sound = reply_sound(self._dir.settings) if fresh else None
                to_owner = msgspec.structs.replace(out, unread=conv.agent_unread, sound=sound)
                await self._notifier.agent(owner, p.encode(to_owner))
            else:  # an event (a notice): its count follows on its own
                await self._notifier.agent(owner, frame)
                await self._notifier.agent(
                    owner, p.Unread(conversation_id=conv.id, count=conv.agent_unread)
                )
            return out
        # Waiting in the Inbox (new, sent back or transferred to a queue): its row shows
        # the unread count to every agent who sees it there.
        router = self._shell.router
        view = router.conversation(conv.id)
        only = view.dedicated_agent_id if view and view.dedicated else None
        viewers = self._access.inbox_viewers(conv.queue_ids, only)
        for agent_id, summary in await self._summaries.summaries(router, viewers, conv):
            await self._notifier.agent(agent_id, p.ConversationUpdate(conversation=summary))
        return out

    async def contact_upload(
        self,
        conv: Conversation,
        name: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None,
    ) -> Attachment:
        """A file for the contact's next message, in their live conversation."""
        if conv.state not in LIVE_STATES:
            raise Conflict("the conversation has ended; start a new one", code="conversation_ended")
        return await self._files.upload(
            conv,
            uploader="contact",
            uploader_id=conv.address,
            name=name,
            chunks=chunks,
            declared_size=declared_size,
        )

    async def contact_links(self, conv: Conversation, ids: Sequence[str], ref: str) -> p.LinksOut:
        """Links for the contact to files of their own conversation."""
        return await self._files.links(conv, contact_reader(conv.address), ids, ref)

    async def contact_read(self, conv: Conversation, seq: int) -> None:
        conv = await self._store.mark_read(conv.id, "contact", seq)
        await self._notifier.contact(conv, UnreadNote(conv.contact_unread))

    async def contact_typing(self, conv: Conversation, active: bool) -> None:
        if conv.owner_agent_id and conv.state == "assigned":
            name = await self._contacts.name(conv.contact_id)
            await self._notifier.agent(
                conv.owner_agent_id,
                p.Typing(conversation_id=conv.id, active=active, who="visitor", name=name),
            )

    async def history(
        self,
        conv: Conversation,
        before_seq: int | None,
        limit: int | None,
        *,
        context: bool = False,
    ) -> p.HistoryOut:
        """A page of up to ``limit`` items (GATEWAY_HISTORY_PAGE_SIZE when None) before
        ``before_seq`` (the newest page without it); with ``context`` (agents), the first
        page carries the escalated transcript."""
        if limit is None:
            limit = self._history_page
        before = before_seq if before_seq is not None else conv.last_seq + 1
        rows = await self._store.messages(conv.id, before_seq=before, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[1:] if has_more else rows
        items = [await self._summaries.message_frame(m, conv) for m in rows]
        lines = []
        if context and before_seq is None:
            lines = [
                p.ContextLine(sender=t.sender, text=t.text, at=t.at, name=t.name)
                for t in await self._store.get_transcript(conv.id)
            ]
        return p.HistoryOut(conversation_id=conv.id, items=items, has_more=has_more, context=lines)

    async def transcript(self, conv: Conversation) -> list[TranscriptLine]:
        return await self._store.get_transcript(conv.id)

    async def backlog(self, conv: Conversation, after_seq: int) -> list[p.MessageOut | p.EventOut]:
        """Everything after ``after_seq``, for a resume."""
        out: list[p.MessageOut | p.EventOut] = []
        while True:
            rows = await self._store.messages(
                conv.id, after_seq=after_seq, limit=self._backlog_page
            )
            out.extend([await self._summaries.message_frame(m, conv) for m in rows])
            if len(rows) < self._backlog_page:
                return out
            after_seq = rows[-1].seq
