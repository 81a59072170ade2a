"""Who may see and read which conversation: decided here, and only here.

* An agent **sees** an open conversation when the router says so (it is in the Inbox of
  one of their queues, ringing for them, or theirs), and a closed one when it was theirs;
  supervisors and admins see every one. Anything else is "not found": an agent cannot
  even learn that a conversation they may not see exists.
* An agent **reads** (history, messages, files) what they own, what rings for them,
  and, as a **preview**, Inbox conversations of a touchpoint that allows their role;
  supervisors and admins read everything they see; a list row carries the last text
  only for an agent who reads it (:func:`reads_row`). Only the owner of an assigned
  conversation **replies** in it (messages and file uploads).
* Who is **shown** a waiting conversation in their Inbox: the online members of its
  queues (only its agent, for a dedicated one), and every online supervisor and admin.
* A **contact** reaches only their own conversations on the touchpoint they came by.
* The **contact card** of a conversation is for whoever reads it; saving or merging
  the contact is for its owner and for supervisors and admins. **Notes** are written by
  the owner (or a supervisor or admin) and read by whoever reads the conversation; they
  never reach the contact. The **disposition** is chosen by the same, while the
  conversation is assigned or in wrap-up.
* **History** (closed conversations): an agent searches and reads the ones they had
  last; supervisors and admins every one.
* The **live view** of every ongoing conversation, agent and queue, **monitoring** a
  conversation read-only and **transferring** any assigned one are for supervisors and
  admins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import routing as r
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.model.records import Agent, Conversation
from gateway.services.directory import Directory


def previews_on(directory: Directory, agent: Agent, touchpoint_id: str) -> bool:
    """Whether the touchpoint lets the agent's role preview its Inbox conversations."""
    tp = directory.touchpoints.get(touchpoint_id)
    return bool(tp and agent.role in tp.preview_roles)


def reads_row(agent: Agent, place: str, previews: bool) -> bool:
    """Whether a list row at ``place`` in the agent's console may carry the
    conversation's text (its last message): what :meth:`AccessPolicy.reads` allows,
    told from the row's place (``previews``: :func:`previews_on`). A row leaving the
    list (``gone``) needs none."""
    if agent.supervises or place in ("offered", "assigned", "wrapup"):
        return True
    return place == "inbox" and previews


class AccessPolicy:
    def __init__(self, directory: Directory, router: Callable[[], r.Router]) -> None:
        self._dir = directory
        self._router = router

    def active_agent(self, agent_id: str) -> Agent:
        """The agent, as configured now; Forbidden when unknown or deactivated."""
        agent = self._dir.agents.get(agent_id)
        if agent is None or not agent.active:
            raise Forbidden("unknown or deactivated agent")
        return agent

    def sees(self, agent: Agent, conv: Conversation) -> bool:
        if conv.state == "closed":
            return conv.owner_agent_id == agent.id or agent.supervises
        return self._router().can_see(agent.id, conv.id)

    def check_sees(self, agent: Agent, conv: Conversation) -> Conversation:
        if not self.sees(agent, conv):
            raise NotFound("no such conversation")
        return conv

    def reads(self, agent: Agent, conv: Conversation) -> bool:
        """Whether the agent reads the conversation (history, messages, files); the
        same rule told from a list row's place is :func:`reads_row`: change both."""
        if conv.owner_agent_id == agent.id or agent.supervises:
            return True
        view = self._router().conversation(conv.id)
        if view is not None and view.offer_agent_id == agent.id:
            return True
        return conv.state in ("waiting", "offered") and self.previews(agent, conv)

    def check_reads(self, agent: Agent, conv: Conversation) -> None:
        if self.reads(agent, conv):
            return
        # the reason the agent can act on: whose it is, or the touchpoint's preview rule
        if conv.owner_agent_id and conv.state in ("assigned", "wrapup"):
            raise Forbidden("this conversation is assigned to another agent")
        if conv.state in ("waiting", "offered"):
            raise Forbidden("preview of this conversation is not allowed for your role")
        raise Forbidden("only its agent, supervisors and admins read this conversation")

    @staticmethod
    def check_replies(agent: Agent, conv: Conversation) -> None:
        """Only the agent a conversation is assigned to writes in it (text or files)."""
        if conv.state != "assigned" or conv.owner_agent_id != agent.id:
            if conv.owner_agent_id == agent.id and conv.state in ("wrapup", "closed"):
                # theirs, but over: the answer a visitor gets for the same (the protocol's)
                raise Conflict("the conversation has ended", code="conversation_ended")
            raise Forbidden("only the agent the conversation is assigned to can reply")

    def previews(self, agent: Agent, conv: Conversation) -> bool:
        """Whether the touchpoint lets the agent's role preview its Inbox conversations."""
        return previews_on(self._dir, agent, conv.touchpoint_id)

    def inbox_viewers(self, queue_ids: Iterable[str], only_agent: str | None = None) -> set[str]:
        """Online agents shown an Inbox conversation of these queues (or, for a
        dedicated one, its agent), and every online supervisor and admin."""
        router = self._router()
        queues = set(queue_ids)
        out = set()
        for agent_id, agent in self._dir.agents.items():
            view = router.agent(agent_id)
            if view is None or view.status == "offline":
                continue
            if agent.supervises or (
                agent_id == only_agent if only_agent else bool(queues.intersection(agent.queue_ids))
            ):
                out.add(agent_id)
        return out

    @staticmethod
    def check_contact(conv: Conversation, address: str, touchpoint_id: str) -> Conversation:
        """The conversation if it is this contact's on this touchpoint; NotFound
        otherwise (also for someone else's)."""
        if conv.address != address or conv.touchpoint_id != touchpoint_id:
            raise NotFound("no such conversation")
        return conv

    # -- the agent's workspace -----------------------------------------------------------
    def edits_contact(self, agent: Agent, conv: Conversation) -> bool:
        return conv.owner_agent_id == agent.id or agent.supervises

    def check_edits_contact(self, agent: Agent, conv: Conversation) -> None:
        if not self.edits_contact(agent, conv):
            raise Forbidden("only the conversation's agent may save or merge its contact")

    def check_writes_notes(self, agent: Agent, conv: Conversation) -> None:
        if not (conv.owner_agent_id == agent.id or agent.supervises):
            raise Forbidden("only the conversation's agent may add notes to it")

    @staticmethod
    def check_sets_disposition(agent: Agent, conv: Conversation) -> None:
        """The disposition, chosen while the conversation is assigned or in wrap-up: by
        its agent, or a supervisor or admin (as the wrap-up is)."""
        if conv.state == "closed":
            # the wrap-up's answer for a closed one: the router holds it no more
            raise NotFound("the conversation is closed", code="unknown_conversation")
        if conv.owner_agent_id != agent.id and not agent.supervises:
            raise Forbidden("only the conversation's agent may choose its disposition")
        if conv.state not in ("assigned", "wrapup"):
            raise Conflict("the conversation is not assigned", code="not_assigned")

    @staticmethod
    def history_scope(agent: Agent) -> str | None:
        """The agent whose closed conversations this agent may search (None: all)."""
        return None if agent.supervises else agent.id

    @staticmethod
    def watches_live(agent: Agent) -> bool:
        return agent.supervises

    def check_watches_live(self, agent: Agent) -> None:
        if not self.watches_live(agent):
            raise Forbidden("the live view is for supervisors and admins")

    def monitors(self, agent: Agent, conv: Conversation) -> bool:
        """Follow a conversation's messages as they come, read-only."""
        return agent.supervises and conv.state != "closed"

    def check_monitors(self, agent: Agent, conv: Conversation) -> None:
        if not self.monitors(agent, conv):
            raise Forbidden("monitoring is for supervisors and admins, on open conversations")

    def live_watchers(self) -> set[str]:
        """Who is told of changes to the live view: online supervisors and admins."""
        router = self._router()
        out = set()
        for agent_id, agent in self._dir.agents.items():
            view = router.agent(agent_id)
            if agent.supervises and agent.active and view is not None and view.status != "offline":
                out.add(agent_id)
        return out

    def reads_via(self, agent: Agent, conv: Conversation, via: Conversation) -> bool:
        """From the contact card of ``via``: the contact's other conversations (FAQ 26)
        are for whoever reads ``via``."""
        return (
            conv.contact_id == via.contact_id and self.sees(agent, via) and self.reads(agent, via)
        )
