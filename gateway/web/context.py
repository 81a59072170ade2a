"""What the web layer is handed by the composition root (gateway/app.py): the services
it calls, this node's sockets, the limits, and the readiness state. Handlers reach it
with :func:`web_of`; nothing in the web layer builds a service of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from gateway import metrics
from gateway import protocol as p
from gateway.auth import Tokens
from gateway.model.records import Agent, Touchpoint
from gateway.ports.store.base import Store
from gateway.services.agent_desk import AgentDesk
from gateway.services.agents import AgentService
from gateway.services.attachments import Attachments
from gateway.services.availability import AvailabilityService
from gateway.services.channel_state import ChannelState
from gateway.services.contacts import ContactService
from gateway.services.conversations import ConversationService
from gateway.services.directory import Directory
from gateway.services.notices import AdminNotices
from gateway.services.outbound_start import OutboundStart
from gateway.services.outbox import Outbox
from gateway.services.refusals import EmbedRefusals
from gateway.services.workspace import Workspace
from gateway.settings import Settings
from gateway.web.agent_presence import AgentSockets
from gateway.web.hub import Hub
from gateway.web.limits import Limits
from gateway.web.openapi import Endpoint

# A channel's check of a touchpoint's settings: the touchpoint with them normalised, and
# (field, message) for each problem.
TouchpointCheck = Callable[[Touchpoint], tuple[Touchpoint, list[tuple[str, str]]]]


@dataclass
class Health:
    node_id: str
    is_leader: Callable[[], bool]
    ping_store: Callable[[], Awaitable[bool]]
    draining: bool = False

    def begin_drain(self) -> None:
        """SIGTERM: readiness answers 503 from now on."""
        self.draining = True
        metrics.DRAINING.set(1)


@dataclass
class Web:
    settings: Settings
    tokens: Tokens
    store: Store
    directory: Directory
    contacts: ContactService
    conversations: ConversationService
    attachments: Attachments
    desk: AgentDesk
    # conversations an agent starts (outbound SMS, email)
    outbound: OutboundStart
    agents: AgentService
    workspace: Workspace
    hub: Hub
    agent_sockets: AgentSockets
    limits: Limits
    health: Health
    # what the core keeps for channels (message content for the console's views)
    channel_state: ChannelState
    clock: Callable[[], float]
    # can anyone answer a touchpoint's contacts now; sites refused its chat
    availability: AvailabilityService
    refusals: EmbedRefusals
    notices: AdminNotices
    # reload configuration on every node and rebuild the router (after an admin change)
    reload: Callable[[], Awaitable[None]]
    # what the channels add: their API rows (for the OpenAPI document) and their checks
    # of a touchpoint's channel settings
    endpoints: list[Endpoint] = field(default_factory=list)
    touchpoint_checks: dict[str, TouchpointCheck] = field(default_factory=dict)
    # the settings each channel keeps secret: never shown, kept when an edit omits them
    touchpoint_secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the webhook events to list and replay (automations, bots)
    outbox: Outbox | None = None

    async def act(self, agent: Agent, frame: p.AgentAction) -> None:
        """An agent's action on a conversation (a console's frame, or the admin API's
        transfer): the desk's, then a transfer's note kept for the receiving agent."""
        await self.desk.act(agent, frame)
        if isinstance(frame, p.Transfer) and frame.note.strip():
            await self.workspace.notes.add_for(agent.id, frame.conversation_id, frame.note.strip())


def web_of(conn: HTTPConnection) -> Web:
    web: Web = conn.app.state.web
    return web
