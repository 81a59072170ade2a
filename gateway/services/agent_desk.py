"""Conversations, from the agent's side: find one the agent may see, reply, read, type,
and act on it (assign, accept, reject, transfer, send to inbox, end, wrap up).

Who may see or read what is the access policy's (access.py); what the router allows is
the router's (the shell refuses with ActionRefused); what is left here is the order of
things: commit, acknowledge, tell.
"""

from __future__ import annotations

from collections.abc import Callable

import routing as r
from gateway import metrics
from gateway import protocol as p
from gateway.errors import Forbidden, NotFound, ProtocolError
from gateway.model.records import Agent, Conversation
from gateway.ports.store.base import Store
from gateway.services.access import AccessPolicy
from gateway.services.automations import Announcer
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.notify import MessageNote, Notifier, TypingNote, UnreadNote
from gateway.services.outbox import Outbox
from gateway.services.router_shell import RouterShell
from gateway.services.views import frame_for


class AgentDesk:
    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        shell: RouterShell,
        access: AccessPolicy,
        notifier: Notifier,
        deliveries: Deliveries,
        announcer: Announcer,
        outbox: Outbox,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._dir = directory
        self._shell = shell
        self._access = access
        self._notifier = notifier
        self._deliveries = deliveries
        self._announcer = announcer
        self._outbox = outbox
        self._clock = clock

    async def conversation(self, agent: Agent, conversation_id: str) -> Conversation:
        """A conversation this agent may see, or NotFound."""
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

    async def send(self, agent: Agent, conv: Conversation, client_msg_id: str, body: str) -> p.Ack:
        if conv.state != "assigned" or conv.owner_agent_id != agent.id:
            raise Forbidden("only the agent the conversation is assigned to can reply")
        tracked = self._deliveries.tracks(conv.channel)
        if tracked:
            await self._deliveries.check(conv)  # the channel may refuse before it is stored
        now = self._clock()
        announce = self._announcer.message(conv, at=now, to_bot=False)
        msg, created, conv = await self._store.append(
            conv.id,
            sender="agent",
            sender_id=agent.id,
            client_msg_id=client_msg_id,
            body=body,
            now=now,
            delivery="pending" if tracked else "",
            announce=announce,
        )
        if tracked and created:
            self._deliveries.wake()
        if announce and created:
            self._outbox.wake(announce)
        if created:
            metrics.MESSAGES.labels(sender="agent").inc()
        # Published again for a retry too: the first attempt may have stored the message
        # and then failed to publish it (clients drop what they already have by seq).
        frame = p.encode(frame_for(msg, agent.name))
        await self._notifier.contact(conv, MessageNote(msg, agent.name, frame))
        await self._notifier.agent(agent.id, frame)
        await self._notifier.contact(conv, UnreadNote(conv.contact_unread))
        return p.Ack(
            client_msg_id=client_msg_id, conversation_id=conv.id, seq=msg.seq, duplicate=not created
        )

    async def read(self, agent: Agent, conv: Conversation, seq: int) -> None:
        conv = await self._store.mark_read(conv.id, "agent", seq)
        await self._notifier.agent(
            agent.id, p.Unread(conversation_id=conv.id, count=conv.agent_unread)
        )

    async def typing(self, agent: Agent, conv: Conversation, active: bool) -> None:
        if conv.owner_agent_id == agent.id and conv.state == "assigned":
            await self._notifier.contact(conv, TypingNote(active, agent.name))

    async def act(self, agent: Agent, frame: p.AgentAction) -> None:
        """Assign, accept, reject, transfer, send to inbox, end, wrap up."""
        conv = await self.conversation(agent, frame.conversation_id)
        await self._shell.apply(self._event(agent, conv, frame))

    def _event(self, agent: Agent, conv: Conversation, frame: p.AgentAction) -> r.Event:
        cid, aid = conv.id, agent.id
        if isinstance(frame, p.Assign):
            return r.Assign(cid, aid)
        if isinstance(frame, p.Accept):
            return r.Accept(cid, aid)
        if isinstance(frame, p.Reject):
            return r.Reject(cid, aid)
        if isinstance(frame, p.Transfer):
            if bool(frame.to_agent_id) == bool(frame.to_queue_id):
                raise ProtocolError(
                    "transfer to an agent or to a queue: exactly one", code="invalid_field"
                )
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
            allowed = self._dir.dispositions()
            if allowed and frame.disposition not in allowed:
                why = (
                    f"unknown disposition {frame.disposition!r}"
                    if frame.disposition
                    else "a disposition is required"
                )
                raise ProtocolError(f"{why}: one of {', '.join(allowed)}", code="invalid_field")
            return r.WrapUp(cid, aid, frame.notes, frame.disposition or None)
        raise ProtocolError("unknown action")  # pragma: no cover - the decoder admits no other
