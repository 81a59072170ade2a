"""Conversations, from the agent's side: find one the agent may see, reply, read, type,
and act on it (assign, accept, reject, transfer, send to inbox, end, wrap up, choose
the disposition).

Who may see or read what is the access policy's (access.py); what the router allows is
the router's (the shell refuses with ActionRefused); what is left here is the order of
things: commit, acknowledge, tell.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence

import routing as r
from gateway import metrics
from gateway import protocol as p
from gateway.errors import (
    Conflict,
    FileRefused,
    Forbidden,
    InvalidInput,
    NotFound,
    ProtocolError,
)
from gateway.model.channel_state import Content
from gateway.model.records import Agent, Attachment, Conversation
from gateway.model.text import clean_text, require_content
from gateway.ports.store.base import Stale, Store
from gateway.services.access import AccessPolicy
from gateway.services.attachments import Attachments, agent_reader
from gateway.services.automations import Announcer
from gateway.services.channel_state import ChannelState
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.notify import MessageNote, Notifier, TypingNote
from gateway.services.outbox import Outbox
from gateway.services.recent import RecentConversations, write_on_recent
from gateway.services.router_shell import RouterShell
from gateway.services.views import ack_for, frame_for

# the counter's child, looked up once: labels() takes a lock and a dict per call
_COUNTED = metrics.MESSAGES.labels(sender="agent")


class AgentDesk:
    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        shell: RouterShell,
        access: AccessPolicy,
        notifier: Notifier,
        files: Attachments,
        deliveries: Deliveries,
        announcer: Announcer,
        outbox: Outbox,
        state: ChannelState,
        clock: Callable[[], float],
        recent: RecentConversations | None = None,
    ) -> None:
        self._recent = recent or RecentConversations()
        self._files = files
        self._state = state
        self._store = store
        self._dir = directory
        self._shell = shell
        self._access = access
        self._notifier = notifier
        self._deliveries = deliveries
        self._announcer = announcer
        self._outbox = outbox
        self._clock = clock

    async def conversation(
        self, agent: Agent, conversation_id: str, *, recent: bool = False
    ) -> Conversation:
        """A conversation this agent may see, or NotFound. ``recent``: perhaps as this
        node last wrote to it, when the agent may see it so (only for a guarded write:
        gateway/services/recent.py); else read."""
        if recent:
            conv = self._recent.get(conversation_id)
            if conv is not None and self._access.sees(agent, conv):
                return conv
        try:
            conv = await self._store.get_conversation(conversation_id)
        except NotFound:
            raise NotFound("no such conversation") from None
        return self._access.check_sees(agent, conv)

    async def readable(self, agent: Agent, conversation_id: str) -> Conversation:
        """A conversation this agent may read (history), or NotFound / Forbidden."""
        conv = await self.conversation(agent, conversation_id)
        self._access.check_reads(agent, conv)
        return conv

    async def send(
        self,
        agent: Agent,
        conv: Conversation,
        client_msg_id: str,
        body: str,
        *,
        attachments: Sequence[str] = (),
        content: Content | None = None,
        skip: str = "",
        guarded: bool = False,
    ) -> p.Ack:
        """The owner's reply, with its files (uploaded before). ``content`` is what the
        channel carries beyond the text (email: recipients, subject, HTML), checked by the
        channel's adapter and stored before the message, so the delivery that follows
        always finds it. The ack carries the stored message: ``skip`` is the ref of the
        socket that sent it, which the echo to the agent's other sockets leaves out.
        ``guarded``: ``conv`` may be out of date (gateway/services/recent.py): stored
        only if it is not, else Stale. A retry of a message stored before the
        conversation ended or moved to another agent is acked again, as any retry is."""
        try:
            self._access.check_replies(agent, conv)
        except (Conflict, Forbidden):
            ack = await self._acked_again(agent, conv.id, client_msg_id)
            if ack is None:
                raise
            return ack
        require_content(body, attachments)
        if attachments:
            await self._check_delivers_files(conv)
            await self._files.check_message(conv, attachments)
        tracked = await self._deliveries.tracked(conv)
        if tracked:
            await self._deliveries.check(conv)  # the channel may refuse before it is stored
        if content is not None:
            if not tracked:
                raise InvalidInput([("content", f"{conv.channel} messages carry no content")])
            checked = await self._deliveries.check_content(conv, agent, content)
            # the first write stands, as the message's own (a retry changes nothing)
            if await self._state.content(conv.id, client_msg_id) is None:
                await self._state.put_content(conv.id, client_msg_id, checked)
        now = self._clock()
        announce = self._announcer.messages(conv, to_bot=False)
        try:
            msg, created, conv = await self._store.append(
                conv.id,
                sender="agent",
                sender_id=agent.id,
                client_msg_id=client_msg_id,
                body=clean_text(body),
                now=now,
                attachments=attachments,
                delivery="pending" if tracked else "",
                announce=announce,
                expect=conv if guarded else None,
            )
        except Stale:
            self._recent.drop(conv.id)
            raise
        self._recent.put(conv)
        if tracked and created:
            self._deliveries.wake()
        if announce is not None and announce.announced:
            self._outbox.wake(announce.announced)
        if created:
            _COUNTED.inc()
        # Published again for a retry too: the first attempt may have stored the message
        # and then failed to publish it (clients drop what they already have by seq).
        # The contact's frame carries their unread count (one frame per message).
        out = frame_for(msg, agent.name)
        frame = p.encode(out)
        note = MessageNote(msg, agent.name, frame, conv.contact_unread, out=out)
        await self._notifier.contact(conv, note)
        await self._notifier.agent(agent.id, frame, skip)
        return ack_for(client_msg_id, msg, created, out)

    async def send_recent(
        self,
        agent: Agent,
        conversation_id: str,
        client_msg_id: str,
        body: str,
        *,
        attachments: Sequence[str] = (),
        skip: str = "",
    ) -> p.Ack:
        """The owner's reply on the hot path: written on the conversation as this node
        last knew it, no read of the store, with a guarded append; read again and
        decided again if it changed (gateway/services/recent.py)."""
        try:
            return await write_on_recent(
                lambda recent: self.conversation(agent, conversation_id, recent=recent),
                lambda conv: self.send(
                    agent,
                    conv,
                    client_msg_id,
                    body,
                    attachments=attachments,
                    skip=skip,
                    guarded=True,
                ),
            )
        except NotFound:
            # out of this agent's sight since (transferred to a queue it is not in)
            ack = await self._acked_again(agent, conversation_id, client_msg_id)
            if ack is None:
                raise
            return ack

    async def _acked_again(
        self, agent: Agent, conversation_id: str, client_msg_id: str
    ) -> p.Ack | None:
        """The ack of a message this agent stored under ``client_msg_id``, for a retry
        the conversation now refuses (ended, another agent's, out of sight): the client
        saw no ack and may not know it was stored (docs/protocol.md, "Acknowledgements").
        None when nothing was, and the refusal stands. It shows only the agent's own."""
        stored = client_msg_id and await self._store.message_by_client_id(
            conversation_id, "agent", agent.id, client_msg_id
        )
        if not stored:
            return None
        return ack_for(client_msg_id, stored, False, frame_for(stored, agent.name))

    async def upload(
        self,
        agent: Agent,
        conversation_id: str,
        name: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None,
    ) -> Attachment:
        """A file for the agent's next reply (only the owner may send files)."""
        conv = await self.conversation(agent, conversation_id)
        self._access.check_replies(agent, conv)
        await self._check_delivers_files(conv)
        return await self._files.upload(
            conv,
            uploader="agent",
            uploader_id=agent.id,
            name=name,
            chunks=chunks,
            declared_size=declared_size,
        )

    async def _check_delivers_files(self, conv: Conversation) -> None:
        """Files from an agent only where they reach the contact: chat's socket carries
        them; a channel delivered through a provider needs an adapter that sends them
        (and that has no objection for this contact)."""
        if not self._deliveries.tracks(conv.channel):
            return
        if not self._deliveries.delivers_files(conv.channel):
            raise FileRefused(
                f"files cannot be sent on {conv.channel} yet: its adapter does not deliver them",
                code="attachments_unavailable",
            )
        await self._deliveries.check_files(conv)

    async def links(self, agent: Agent, frame: p.Links) -> p.LinksOut:
        """Links to files of a conversation the agent may read."""
        conv = await self.readable(agent, frame.conversation_id)
        return await self._files.links(
            conv, agent_reader(agent.id), frame.attachment_ids, frame.ref
        )

    async def read(self, agent: Agent, conv: Conversation, seq: int) -> None:
        if conv.owner_agent_id != agent.id:
            # The marker is the owner's (their Assigned list's bubble): another agent of
            # the queue, or a supervisor, looking reads nothing for them. No error: the
            # console may send it just as a transfer takes the conversation away.
            return
        conv = await self._store.mark_read(conv.id, "agent", seq)
        await self._notifier.agent(
            agent.id, p.Unread(conversation_id=conv.id, count=conv.agent_unread)
        )

    async def typing(self, agent: Agent, conv: Conversation, active: bool) -> None:
        if conv.owner_agent_id == agent.id and conv.state == "assigned":
            await self._notifier.contact(conv, TypingNote(active, agent.name))

    async def act(self, agent: Agent, frame: p.AgentAction) -> None:
        """Assign, accept, reject, transfer, send to inbox, end, wrap up; choose the
        disposition."""
        conv = await self.conversation(agent, frame.conversation_id)
        if isinstance(frame, p.SetDisposition):
            await self._set_disposition(agent, conv, frame.disposition)
            return
        await self._shell.apply(self._event(agent, conv, frame))

    async def _set_disposition(self, agent: Agent, conv: Conversation, disposition: str) -> None:
        """Stored at once, not through the router: it keeps no disposition, and the
        wrap-up takes this one when it names none. Every console of the conversation's
        agent gets its row again, which carries it."""
        self._access.check_sets_disposition(agent, conv)
        if disposition:  # "" clears it
            self._check_disposition(disposition)
        await self._store.update_conversation(conv.id, disposition=disposition)
        if conv.owner_agent_id and self._shell.effects is not None:
            # the owner only: to anyone else the row would be "gone" (a supervisor
            # monitoring it would lose the view)
            await self._shell.effects.refresh_rows({conv.id: {conv.owner_agent_id}})

    def _check_disposition(self, disposition: str) -> None:
        """One of the global disposition set's, when one is configured."""
        allowed = self._dir.dispositions()
        if allowed and disposition not in allowed:
            why = (
                f"unknown disposition {disposition!r}"
                if disposition
                else "a disposition is required"
            )
            raise ProtocolError(f"{why}: one of {', '.join(allowed)}", code="invalid_field")

    def _event(self, agent: Agent, conv: Conversation, frame: p.AgentAction) -> r.Event:
        cid, aid = conv.id, agent.id
        if isinstance(frame, p.Assign):
            return r.Assign(cid, aid)
        if isinstance(frame, p.Accept):
            return r.Accept(cid, aid)
        if isinstance(frame, p.Reject):
            return r.Reject(cid, aid)
        if isinstance(frame, p.Transfer):
            # InvalidInput: invalid_field on the socket, a 422 in the admin API
            if bool(frame.to_agent_id) == bool(frame.to_queue_id):
                raise InvalidInput(
                    [("to_agent_id", "transfer to an agent or to a queue: exactly one")]
                )
            if frame.to_queue_id and frame.to_queue_id not in self._dir.queues:
                # the router keeps no list of queues: a conversation sent to one that does
                # not exist would wait where no agent ever looks
                raise InvalidInput([("to_queue_id", f"unknown queue {frame.to_queue_id!r}")])
            return r.Transfer(
                cid,
                aid,
                to_agent_id=frame.to_agent_id or None,
                to_queue_id=frame.to_queue_id or None,
            )
        if isinstance(frame, p.SendToInbox):
            return r.SendToInbox(cid, aid)
        if isinstance(frame, p.End):
            return r.End(cid, aid)
        if isinstance(frame, p.WrapUp):
            # none named: the one chosen before (a ``disposition`` frame) stands
            disposition = frame.disposition or conv.disposition
            self._check_disposition(disposition)
            return r.WrapUp(cid, aid, frame.notes, disposition or None)
        raise ProtocolError("unknown action")  # pragma: no cover - the decoder admits no other
