"""The agent endpoint's frames for the workspace and the supervisor's view: notes,
the live view of every ongoing conversation, agent and queue, and monitoring."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.protocol.frames import Frame, Id

NoteBody = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]

# ----------------------------------------------------------------------------------
# In


class AddNote(Frame, tag="note"):
    """Add a note to a conversation: kept with it, never sent to the contact."""

    conversation_id: Id
    body: NoteBody
    ref: Annotated[str, msgspec.Meta(max_length=64)] = ""


class WatchLive(Frame, tag="live"):
    """Supervisors and admins: send the live view now (``live``) and keep it current
    (``live_update``) while ``on``."""

    on: bool = True


class Monitor(Frame, tag="monitor"):
    """Supervisors and admins: follow an open conversation's messages read-only while
    ``on`` (its history comes with ``history`` as for any conversation)."""

    conversation_id: Id
    on: bool = True


# ----------------------------------------------------------------------------------
# Out


class NoteOut(Frame, tag="note"):
    conversation_id: str
    note_id: str
    agent_id: str
    agent_name: str
    body: str
    at: float


class LiveConversation(msgspec.Struct, omit_defaults=True):
    """An ongoing conversation as the router holds it. Waiting time is the frame's
    ``now`` minus ``arrived_at`` (both server time)."""

    conversation_id: str
    state: str
    channel: str
    touchpoint_name: str
    contact_name: str
    queue_ids: list[str]
    priority: int
    arrived_at: float
    agent_id: str = ""
    offer_agent_id: str = ""
    # waiting in its dedicated agent's backlog (a Move takes it to a queue's Inbox, even
    # the one queue it names)
    dedicated: bool = False


class LiveAgent(msgspec.Struct, omit_defaults=True):
    agent_id: str
    name: str
    role: str
    status: str
    load: int
    capacity: int
    assigned: list[str] = []
    offers: list[str] = []


class LiveQueue(msgspec.Struct, omit_defaults=True):
    """Unassigned conversations (waiting or ringing) and the earliest arrival among
    them (0 when none)."""

    queue_id: str
    name: str
    waiting: int
    oldest_arrived_at: float = 0.0


class LiveSnapshot(Frame, tag="live"):
    now: float
    conversations: list[LiveConversation]
    agents: list[LiveAgent]
    queues: list[LiveQueue]


class LiveUpdate(Frame, tag="live_update"):
    """Rows that changed; ``gone`` lists conversations that left the live view."""

    now: float
    conversations: list[LiveConversation] = []
    gone: list[str] = []
    agents: list[LiveAgent] = []
    queues: list[LiveQueue] = []
