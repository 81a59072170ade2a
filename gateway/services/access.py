"""Who may see and read which conversation: decided here, and only here.

* An agent **sees** an open conversation when the router says so (it is in the Inbox of
  one of their queues, ringing for them, or theirs), and a closed one when it was theirs;
  supervisors and admins see every one. Anything else is "not found": an agent cannot
  even learn that a conversation they may not see exists.
* An agent **reads** (history, messages, files) what they own, what rings for them,
  and, as a **preview**, Inbox conversations of a touchpoint that allows their role;
  supervisors and admins read everything they see. Only the owner of an assigned
  conversation **replies** in it (messages and file uploads).
* Who is **shown** a waiting conversation in their Inbox: the online members of its
  queues (only its agent, for a dedicated one), and every online supervisor and admin.
* A **contact** reaches only their own conversations on the touchpoint they came by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import routing as r
from gateway.errors import Forbidden, NotFound
from gateway.model.records import Agent, Conversation
from gateway.services.directory import Directory


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
        if conv.owner_agent_id == agent.id or agent.supervises:
            return True
        view = self._router().conversation(conv.id)
        if view is not None and view.offer_agent_id == agent.id:
            return True
        return conv.state in ("waiting", "offered") and self.previews(agent, conv)

    def check_reads(self, agent: Agent, conv: Conversation) -> None:
        if not self.reads(agent, conv):
            raise Forbidden("preview of this conversation is not allowed for your role")

    @staticmethod
    def check_replies(agent: Agent, conv: Conversation) -> None:
        """Only the agent a conversation is assigned to writes in it (text or files)."""
        if conv.state != "assigned" or conv.owner_agent_id != agent.id:
            raise Forbidden("only the agent the conversation is assigned to can reply")

    def previews(self, agent: Agent, conv: Conversation) -> bool:
        """Whether the touchpoint lets the agent's role preview its Inbox conversations."""
        tp = self._dir.touchpoints.get(conv.touchpoint_id)
        return bool(tp and agent.role in tp.preview_roles)

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
