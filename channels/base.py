"""The channel interface: what every adapter (chat, SMS, WhatsApp, Messenger, email, the
integration API) does for the core, and what the core hands it.

Inbound, an adapter turns what its provider sends (a widget's frame, a webhook, an
email) into an :class:`~gateway.model.inbound.InboundMessage` and hands it to the
conversation service (``core.conversations.receive``), which starts a conversation or
appends to the open one. Outbound, the core shows live notices through
:meth:`ChannelAdapter.to_contact` (chat: a stored message, an unread count, an agent
typing, in the visitor's open tabs); on a channel that delivers through a provider
(``tracked_delivery`` in gateway/model/channels.py) what agents and the system write is
a delivery job the core hands to :meth:`ChannelAdapter.deliver`, after
:meth:`ChannelAdapter.check_outbound` had its say before the message was stored, and
the provider's later status callbacks go back through ``core.deliveries.report``
(gateway/services/deliveries.py). Each adapter also checks its touchpoints' settings,
mounts its own HTTP and WebSocket routes, and describes them for the OpenAPI document.

Adapters use the core's public services only (import-linter keeps it so); the core never
imports a channel. The composition root (gateway/app.py) builds each adapter with a
:class:`Core` and registers it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from starlette.routing import BaseRoute

from gateway import protocol as p
from gateway.auth import Tokens
from gateway.errors import InvalidInput
from gateway.model.channel_state import Content
from gateway.model.channels import ChannelName, ChannelSpec, channel
from gateway.model.records import Agent, Conversation, Message, Touchpoint
from gateway.ports.presence import Presence
from gateway.services.attachments import Attachments
from gateway.services.availability import AvailabilityService
from gateway.services.bots import BotDesk
from gateway.services.channel_state import ChannelState
from gateway.services.contacts import ContactService
from gateway.services.conversations import ConversationService
from gateway.services.deliveries import Deliveries, Outcome, failed
from gateway.services.directory import Directory
from gateway.services.endings import Endings
from gateway.services.exclusive import Exclusive
from gateway.services.integration_keys import ApiKeys, Idempotency
from gateway.services.notices import AdminNotices
from gateway.services.notify import ContactNote, Notifier
from gateway.services.outbox import Outbox
from gateway.services.webhooks import WebhookSender
from gateway.services.windows import SessionWindows
from gateway.settings import Settings
from gateway.web.hub import Hub
from gateway.web.limits import Limits
from gateway.web.openapi import Endpoint

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class Core:
    """The services an adapter may use."""

    settings: Settings
    directory: Directory
    conversations: ConversationService
    contacts: ContactService
    endings: Endings
    availability: AvailabilityService
    attachments: Attachments
    deliveries: Deliveries
    notifier: Notifier
    presence: Presence
    tokens: Tokens
    hub: Hub
    limits: Limits
    clock: Callable[[], float]
    # what the core keeps for the channel: cursors, connections, refs, content
    state: ChannelState
    # work that runs on one node at a time (one lease per piece)
    exclusive: Exclusive
    # session windows (WhatsApp 24 h, Messenger 7 days) and the admins' notices
    windows: SessionWindows
    notices: AdminNotices
    bots: BotDesk
    outbox: Outbox
    webhooks: WebhookSender
    api_keys: ApiKeys
    idempotency: Idempotency


class ChannelAdapter(abc.ABC):
    """One channel's adapter. Subclasses set :attr:`name`, and :attr:`secret_settings`
    when their touchpoints' settings hold secrets."""

    name: ChannelName
    # keys of the touchpoint's ``settings`` that are secrets (passwords, tokens): the
    # admin API never shows them (only ``<key>_set``), keeps them when an edit leaves
    # them out, and nothing logs them
    secret_settings: tuple[str, ...] = ()

    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def spec(self) -> ChannelSpec:
        return channel(self.name)

    async def start(self) -> None:  # noqa: B027 - an optional hook
        """Begin work that runs on its own (pollers, delivery retries)."""

    async def stop(self) -> None:  # noqa: B027 - an optional hook
        """Stop it; called before the store closes."""

    async def configuration_changed(self) -> None:  # noqa: B027 - an optional hook
        """Configuration was reloaded on this node (touchpoints may be gone or off)."""

    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        """The touchpoint with its channel settings normalised, and every problem with
        them as (field, message); an admin change is refused while there are any."""
        return tp, []

    def routes(self) -> list[BaseRoute]:
        """HTTP and WebSocket routes of the channel (webhooks, sockets, pages)."""
        return []

    def api_routes(self) -> list[BaseRoute]:
        """Routes mounted under ``/api`` beside the admin API (paths without ``/api``)."""
        return []

    def endpoints(self) -> list[Endpoint]:
        """How the channel's API routes appear in the OpenAPI document."""
        return []

    @abc.abstractmethod
    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Show a notice to the conversation's contact, as this channel can (a live
        channel's sockets; a tracked channel's messages go through ``deliver``)."""

    async def conversation_state(self, conv: Conversation) -> p.ChannelState | None:
        """What the console shows of this channel's rules on the conversation now (the
        session window, an opt-out, whether attachments can be sent); None: nothing."""
        return None

    async def check_outbound(self, conv: Conversation) -> None:  # noqa: B027 - optional
        """Refuse, with a GatewayError, a message to this contact that must not be sent
        now (an opted-out number, a closed session window). Tracked channels only."""

    async def check_content(self, conv: Conversation, agent: Agent, content: Content) -> Content:
        """An agent's message content on this channel (email: recipients, subject, HTML),
        normalised, or InvalidInput naming every bad field. Tracked channels only."""
        raise InvalidInput([("content", f"{self.name} messages carry no content")])

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        """Send one stored message to the contact through the provider (tracked
        channels: gateway/services/deliveries.py says what to answer)."""
        return failed(f"{self.name} messages are not delivered by this adapter")
