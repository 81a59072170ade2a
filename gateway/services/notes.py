"""Notes on a conversation (FAQ 12): written by its agent while it runs or in wrap-up,
read by whoever reads the conversation, kept with it in history.

Notes are stored apart from messages (``conversation_notes``), so no path that takes a
conversation's messages to its contact — the channel's ``to_contact``, the visitor's
history, resume and backlog — can carry one. A transfer's note for the receiving agent
is a note too.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway import protocol as p
from gateway.auth import new_id
from gateway.errors import InvalidInput
from gateway.model.records import Agent, Conversation, ConversationNote
from gateway.ports.store.base import Store
from gateway.services.access import AccessPolicy
from gateway.services.directory import Directory
from gateway.services.notify import Notifier


class Notes:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        access: AccessPolicy,
        notifier: Notifier,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._dir = directory
        self._access = access
        self._notifier = notifier
        self._clock = clock

    def frame(self, note: ConversationNote) -> p.NoteOut:
        return p.NoteOut(
            conversation_id=note.conversation_id,
            note_id=note.id,
            agent_id=note.agent_id,
            agent_name=self._dir.agent_name(note.agent_id),
            body=note.body,
            at=note.created_at,
        )

    async def add(self, agent: Agent, conv: Conversation, body: str) -> p.NoteOut:
        """Store the note; its author's consoles and the conversation's agent are told."""
        self._access.check_writes_notes(agent, conv)
        if not body.strip():
            raise InvalidInput([("body", "a note needs some text")])
        return await self._keep(agent.id, conv, body.strip())

    async def add_for(self, author_id: str, conversation_id: str, body: str) -> p.NoteOut:
        """A note the gateway writes for an agent (a transfer's note, once the transfer
        is done): the conversation's new agent is told."""
        return await self._keep(
            author_id, await self._store.get_conversation(conversation_id), body
        )

    async def _keep(self, author_id: str, conv: Conversation, body: str) -> p.NoteOut:
        note = ConversationNote(
            id=new_id("nt"),
            conversation_id=conv.id,
            agent_id=author_id,
            body=body,
            created_at=self._clock(),
        )
        await self._store.add_note(note)
        frame = self.frame(note)
        for agent_id in {author_id, conv.owner_agent_id or author_id}:
            await self._notifier.agent(agent_id, frame)
        return frame

    async def list(self, agent: Agent, conv: Conversation) -> list[p.NoteOut]:
        """The caller has checked that the agent reads the conversation."""
        return [self.frame(n) for n in await self._store.notes(conv.id)]
