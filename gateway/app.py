"""The composition root: builds every part of a node, hands each what it needs, and
serves them as one ASGI application.

Nothing else builds a service. A :class:`Node` owns the ports (store, bus, presence,
and in a cluster the Redis client, the lease and the link to the other nodes), the
router shell, the services, this node's sockets and the channel adapters; it starts
them in dependency order and stops them in reverse. docs/architecture.md draws the
picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, WebSocketRoute

from channels import phone
from channels.api import ApiChannel
from channels.base import ChannelAdapter, Core
from channels.chat import ChatChannel
from channels.email import EmailChannel
from channels.messenger import MessengerChannel
from channels.sms import SmsChannel
from channels.whatsapp import WhatsAppChannel
from gateway import metrics
from gateway.aio import cancel_and_wait
from gateway.auth import FileLinks, Passwords, Tokens, load_secret, new_id
from gateway.cluster.lease import Leadership
from gateway.cluster.link import ClusterLink
from gateway.demo import DEMO_ADMIN, DEMO_AGENT, seed_demo, seed_demo_bot
from gateway.errors import CloseCode, GatewayError
from gateway.model.attachment_rules import chat_rule, rules
from gateway.ports.blobs import create_blobs
from gateway.ports.bus import create_bus
from gateway.ports.presence import LocalPresence, Presence, RedisPresence
from gateway.ports.store import create_store
from gateway.services.access import AccessPolicy
from gateway.services.agent_desk import AgentDesk
from gateway.services.agents import AgentService
from gateway.services.attachments import Attachments
from gateway.services.automations import Announcer
from gateway.services.availability import AvailabilityService
from gateway.services.bots import BotDesk, handover_words
from gateway.services.channel_state import ChannelState
from gateway.services.contact_card import ContactCards
from gateway.services.contacts import ContactService
from gateway.services.conversations import ConversationService
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.effects import Effects
from gateway.services.endings import Endings
from gateway.services.exclusive import Exclusive
from gateway.services.history import History
from gateway.services.idle import IdleCloser
from gateway.services.integration_keys import ApiKeys, Idempotency
from gateway.services.live import LiveView
from gateway.services.notes import Notes
from gateway.services.notices import AdminNotices
from gateway.services.notify import Notifier
from gateway.services.outbound_start import OutboundStart
from gateway.services.outbox import Outbox
from gateway.services.presence_sweep import PresenceSweep
from gateway.services.recent import RecentConversations
from gateway.services.refusals import EmbedRefusals
from gateway.services.reports import Reports
from gateway.services.retention import HistoryRetention
from gateway.services.router_shell import RouterShell
from gateway.services.views import Summaries
from gateway.services.webhooks import WebhookSender
from gateway.services.windows import SessionWindows
from gateway.services.workspace import Workspace
from gateway.settings import Settings
from gateway.web import files, pages
from gateway.web.admin.routes import admin_routes
from gateway.web.agent_presence import AgentSockets
from gateway.web.agent_socket import agent_endpoint
from gateway.web.context import Health, Web
from gateway.web.errors import gateway_error_handler, http_error_handler
from gateway.web.guard import RequestGuard
from gateway.web.hub import Hub
from gateway.web.limits import Limits
from gateway.web.login import api_routes

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("gateway")

# The channels this build carries. Each is an adapter of channels/base.py.
ADAPTERS: tuple[type[ChannelAdapter], ...] = (
    ChatChannel,
    SmsChannel,
    WhatsAppChannel,
    MessengerChannel,
    EmailChannel,
    ApiChannel,
)


class StartupFailed(Exception):
    """The node could not start; the lifespan has said why on stderr."""


def unshared_files_warning(settings: Settings) -> str | None:
    """What a node of a cluster (a Redis bus) says at start when its attachments go to
    the default directory in its own data directory: a file uploaded through it cannot
    be read through another node. Said, not refused: that path may be a mount every node
    shares."""
    if not settings.redis_url or settings.blob_url:
        return None
    where = settings.blob_store_url.removeprefix("file://")
    return (
        "warning: files will not be shared between nodes: GATEWAY_REDIS_URL makes this "
        f"node one of a cluster, but without GATEWAY_BLOB_URL its attachments are kept in "
        f"{where}, which the other nodes cannot read unless it is a mount they all share; set "
        "GATEWAY_BLOB_URL to an s3:// bucket or a file:// directory every node shares "
        "(docs/scaling.md)"
    )


class Node:
    """One gateway process, wired."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        clock = time.time
        self.clock = clock
        self.node_id = settings.node_id or new_id("node")
        secret = load_secret(settings)
        self.tokens = Tokens(
            secret,
            visitor_ttl=settings.visitor_token_ttl,
            agent_ttl=settings.agent_token_ttl,
            visitor_grace=settings.visitor_token_grace,
        )
        # -- ports ---------------------------------------------------------------------
        self.store = create_store(settings.store_url)
        self.blobs = create_blobs(settings.blob_store_url)
        self.bus = create_bus(settings.redis_url)
        self.redis: aioredis.Redis | None = None
        self.presence: Presence = LocalPresence()
        if settings.redis_url:
            import redis.asyncio as aioredis  # only when configured: keeps start-up light

            # Bounded whatever redis-py's default (none before 8.0): a Redis paused
            # or out of reach fails presence's commands rather than holding them. The lease
            # bounds its own calls by the lease (gateway/cluster/lease.py); the bus makes
            # connections of its own, with their own timeouts (gateway/ports/bus/redis.py).
            self.redis = aioredis.from_url(
                settings.redis_url, socket_timeout=5.0, socket_connect_timeout=5.0
            )
            self.presence = RedisPresence(self.redis, self.node_id)
        # -- services ------------------------------------------------------------------
        self.directory = Directory(self.store)
        self.notifier = Notifier(self.bus)
        self.shell = RouterShell(
            offer_timeout=settings.offer_timeout,
            reoffer_cooldown=settings.reoffer_cooldown,
            forward_timeout=settings.router_forward_timeout,
            store=self.store,
            directory=self.directory,
            presence=self.presence,
            clock=clock,
        )
        router = lambda: self.shell.router  # noqa: E731 - the router this node reads now
        self.contacts = ContactService(self.store, clock)
        self.access = AccessPolicy(self.directory, router)
        self.summaries = Summaries(self.store, self.directory, self.contacts.name)
        self.deliveries = Deliveries(
            self.store,
            self.notifier,
            clock,
            lease=settings.delivery_lease,
            max_attempts=settings.delivery_max_attempts,
            retry_base=settings.delivery_retry_base,
        )
        self.webhooks = WebhookSender(clock, timeout=settings.webhook_timeout)
        self.announcer = Announcer(self.directory, clock)
        self.outbox = Outbox(
            self.store,
            self.directory,
            self.webhooks,
            clock,
            max_attempts=settings.delivery_max_attempts,
            retry_base=settings.delivery_retry_base,
            retention=settings.outbox_retention,
            lease=settings.delivery_lease,
            console_url=f"{settings.public_url.rstrip('/')}/console" if settings.public_url else "",
        )
        self.windows = SessionWindows(self.store, clock)
        self.notices = AdminNotices(self.store, self.directory, self.notifier, clock)
        self.shell.effects = Effects(
            self.store,
            self.directory,
            self.notifier,
            self.summaries,
            self.access,
            self.deliveries,
            router,
            self.announcer,
            self.outbox,
        )
        self.bots = BotDesk(
            store=self.store,
            directory=self.directory,
            shell=self.shell,
            notifier=self.notifier,
            deliveries=self.deliveries,
            announcer=self.announcer,
            outbox=self.outbox,
            clock=clock,
            words=handover_words(settings.handover_words),
        )
        self.api_keys = ApiKeys(self.store, clock)
        self.idempotency = Idempotency(self.store, clock, settings.idempotency_ttl)
        self.attachments = Attachments(
            store=self.store,
            blobs=self.blobs,
            rules=rules(
                chat_rule(settings.chat_attachment_types, settings.chat_attachment_max_bytes)
            ),
            links=FileLinks(secret),
            clock=clock,
            staging=Path(settings.data_dir) / "uploads",
            orphan_age=settings.attachment_orphan_age,
            link_ttl=settings.attachment_link_ttl,
            check_every=settings.storage_check_interval,
        )
        # the conversations this node last wrote to (gateway/services/recent.py)
        self.recent = RecentConversations()
        self.conversations = ConversationService(
            store=self.store,
            directory=self.directory,
            shell=self.shell,
            effects=self.shell.effects,
            contacts=self.contacts,
            access=self.access,
            notifier=self.notifier,
            summaries=self.summaries,
            announcer=self.announcer,
            outbox=self.outbox,
            bots=self.bots,
            files=self.attachments,
            deliveries=self.deliveries,
            clock=clock,
            backlog_page=settings.history_page_size * 4,
            history_page=settings.history_page_size,
            recent=self.recent,
        )
        self.channel_state = ChannelState(self.store, clock)
        self.desk = AgentDesk(
            store=self.store,
            directory=self.directory,
            shell=self.shell,
            access=self.access,
            notifier=self.notifier,
            files=self.attachments,
            deliveries=self.deliveries,
            announcer=self.announcer,
            outbox=self.outbox,
            state=self.channel_state,
            clock=clock,
            recent=self.recent,
        )
        self.passwords = Passwords(settings.password_checks_waiting)
        self.outbound = OutboundStart(
            store=self.store,
            directory=self.directory,
            shell=self.shell,
            contacts=self.contacts,
            conversations=self.conversations,
            deliveries=self.deliveries,
            desk=self.desk,
            clock=clock,
        )
        self.agents = AgentService(
            store=self.store,
            directory=self.directory,
            shell=self.shell,
            access=self.access,
            presence=self.presence,
            notifier=self.notifier,
            summaries=self.summaries,
            tokens=self.tokens,
            passwords=self.passwords,
            attachment_rules=self.attachments.rules,
            clock=clock,
        )
        live = LiveView(self.store, self.directory, self.contacts.name, router)
        self.shell.effects.live = live
        self.workspace = Workspace(
            access=self.access,
            cards=ContactCards(self.store, self.directory, self.contacts, self.access),
            notes=Notes(self.store, self.directory, self.access, self.notifier, clock),
            history=History(self.store, self.directory, self.access),
            reports=Reports(self.store, self.directory),
            live=live,
        )
        self.sweep = PresenceSweep(self.shell, self.presence, self.directory)
        self.endings = Endings(
            store=self.store, shell=self.shell, effects=self.shell.effects, clock=clock
        )
        # the visitors' ratings are the reports' satisfaction
        self.workspace.reports.ratings = self.endings
        self.idle = IdleCloser(
            store=self.store,
            shell=self.shell,
            directory=self.directory,
            endings=self.endings,
            clock=clock,
        )
        self.availability = AvailabilityService(router, clock)
        self.retention = HistoryRetention(
            self.store, self.attachments, clock, retention=settings.history_retention
        )
        self.refusals = EmbedRefusals(self.store, clock)
        # -- cluster -------------------------------------------------------------------
        self.hub = Hub(self.bus)
        # rows the router's leader sends an owner's node (gateway/services/recent.py)
        self.hub.node_data(lambda topic, data: self.recent.heard(data))
        self.link: ClusterLink | None = None
        self._folding: asyncio.Task[None] | None = None
        if self.redis is not None:
            self.link = ClusterLink(
                self.bus,
                self.node_id,
                self.shell.on_message,
                self.shell.on_forwards,
                leading=lambda: self.shell.is_leader,
            )
            self.shell.join(
                self.link,
                Leadership(
                    self.redis,
                    self.node_id,
                    settings.router_lease,
                    self.shell.elected,
                    self.shell.deposed,
                ),
            )
            self.hub.system_topics("gw:", self.link.deliver)
            set_gap = getattr(self.bus, "set_gap_handler", None)
            if set_gap is not None:
                set_gap(self.on_bus_gap)
        self.exclusive = Exclusive(self.redis, self.node_id, settings.router_lease)
        # -- web and channels ------------------------------------------------------------
        self.limits = Limits(settings)
        self.agent_sockets = AgentSockets(self.hub, self.agents)
        self.health = Health(self.node_id, lambda: self.shell.is_leader, self.store.ping)
        core = Core(
            settings=settings,
            directory=self.directory,
            conversations=self.conversations,
            contacts=self.contacts,
            endings=self.endings,
            availability=self.availability,
            attachments=self.attachments,
            deliveries=self.deliveries,
            notifier=self.notifier,
            presence=self.presence,
            tokens=self.tokens,
            hub=self.hub,
            limits=self.limits,
            clock=clock,
            bots=self.bots,
            outbox=self.outbox,
            webhooks=self.webhooks,
            api_keys=self.api_keys,
            idempotency=self.idempotency,
            state=self.channel_state,
            exclusive=self.exclusive,
            windows=self.windows,
            notices=self.notices,
        )
        self.channels = [adapter(core) for adapter in ADAPTERS]
        for channel in self.channels:
            self.notifier.register(channel.name, channel)
            self.summaries.channel_states[channel.name] = channel.conversation_state
            if channel.spec.tracked_delivery:
                self.deliveries.register(channel.name, channel)
            self.shell.on_config(channel.configuration_changed)
        self.shell.on_config(self._close_deactivated_agents)
        self.web = Web(
            settings=settings,
            tokens=self.tokens,
            store=self.store,
            directory=self.directory,
            contacts=self.contacts,
            conversations=self.conversations,
            attachments=self.attachments,
            desk=self.desk,
            outbound=self.outbound,
            agents=self.agents,
            workspace=self.workspace,
            hub=self.hub,
            agent_sockets=self.agent_sockets,
            limits=self.limits,
            health=self.health,
            channel_state=self.channel_state,
            clock=clock,
            availability=self.availability,
            refusals=self.refusals,
            notices=self.notices,
            reload=self.shell.config_changed,
            endpoints=[ep for channel in self.channels for ep in channel.endpoints()],
            touchpoint_checks={c.name: c.check_touchpoint for c in self.channels},
            touchpoint_secrets={c.name: c.secret_settings for c in self.channels},
            outbox=self.outbox,
        )

    async def start(self) -> None:
        if unshared := unshared_files_warning(self.settings):
            log.warning("%s", unshared)
        await self.store.open()
        self._folding = asyncio.create_task(self._fold_contacts(), name="contact folds")
        await self.blobs.open()
        await self.attachments.start()
        await self.directory.load()
        await self.presence.start()
        await self.agents.restore_statuses()
        await self.hub.start()
        if self.link is not None:
            await self.link.start()
        await self.shell.start()
        await self.sweep.start()
        await self.idle.start()
        await self.deliveries.start()
        await self.outbox.start()
        await self.retention.start()
        for channel in self.channels:
            await channel.start()

    async def stop(self) -> None:
        await self.notices.stop()  # notices' emails still going out, before their mailer
        for channel in reversed(self.channels):
            await channel.stop()
        await self.retention.stop()
        await self.outbox.stop()
        await self.idle.stop()
        await self.exclusive.stop()
        await self.deliveries.stop()
        await self.webhooks.close()
        await self.sweep.stop()
        await self.shell.stop()
        if self.link is not None:
            await self.link.stop()
        await self.presence.stop()
        await self.hub.stop()
        await self.attachments.stop()
        await self.blobs.close()
        await cancel_and_wait(self._folding)
        await self.store.close()
        self.passwords.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def _fold_contacts(self) -> None:
        """Contacts written before their folded columns existed become searchable by
        them, beside the start-up (a search meanwhile finds them the older way)."""
        try:
            filled = await self.store.fold_contacts()
        except Exception as exc:  # the store away: the next start goes on
            log.warning("filling the contacts' search columns failed: %s", exc)
        else:
            if filled:
                log.info("%d contacts made searchable with case and accents folded", filled)

    async def on_bus_gap(self) -> None:
        """The bus lost frames (Redis reconnected): every socket here may have missed
        some, so close them with a reconnect code; clients resume from the store."""
        metrics.BUS_RECONNECTS.inc()
        self.hub.abort_all(CloseCode.RESTART, "resynchronising")
        await self.shell.resync()

    async def _close_deactivated_agents(self) -> None:
        active = {a.id for a in self.directory.agents.values() if a.active}
        self.agent_sockets.close_deactivated(active)
        await self.agent_sockets.close_revoked()

    def routes(self) -> list[BaseRoute]:
        home = "/demo" if self.settings.demo else "/console"
        return [
            WebSocketRoute("/ws/agent", agent_endpoint),
            *files.routes(),
            Mount(
                "/api",
                routes=[
                    *api_routes(),
                    *files.api_routes(),
                    *admin_routes(),
                    *(r for channel in self.channels for r in channel.api_routes()),
                ],
            ),
            *(r for channel in self.channels for r in channel.routes()),
            *phone.routes(self.settings),
            *pages.routes(home),
        ]


def banner(settings: Settings) -> None:
    """What ``gateway serve`` prints once it listens."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    lines = [f"Engagement gateway ready on {base}"]
    if settings.demo:
        lines += [
            f"  demo page (the visitor):  {base}/demo",
            f"  email the demo mailbox:   {base}/demo/email",
            f"  agent console:            {base}/console",
            f"  chats for the demo bot:   {base}/demo/bot",
            f"  admin section:            {base}/admin",
            *(
                [f"  a contact's phone:        {base}/demo/phone (SMS, WhatsApp, Messenger)"]
                if settings.demo_providers
                else []
            ),
            f"    log in as the agent:    {DEMO_AGENT[0]} / {DEMO_AGENT[1]}",
            f"    or as the admin:        {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}",
        ]
    lines.append(f"  health:                   {base}/healthz")
    print("\n".join(lines), file=sys.stderr, flush=True)


def create_app(settings: Settings) -> Starlette:
    node = Node(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await node.start()
            if settings.demo:
                await seed_demo(
                    node.store, node.directory, settings, node.shell.config_changed, node.clock()
                )
                await seed_demo_bot(
                    node.store,
                    node.directory,
                    settings,
                    node.api_keys,
                    node.shell.config_changed,
                    node.clock(),
                )
        except Exception as exc:
            # An operator's problem (a database down, a bad DSN): one line says it; the
            # traceback is for GATEWAY_LOG_LEVEL=debug.
            if settings.log_level == "debug":
                traceback.print_exc()
            reason = str(exc) or type(exc).__name__
            print(f"gateway: cannot start: {reason}", file=sys.stderr, flush=True)
            raise StartupFailed(reason) from exc
        try:
            yield
        finally:
            # uvicorn has closed every socket with 1012 and waited for in-flight work.
            await node.stop()
            print(f"node {node.node_id} drained and stopped", file=sys.stderr, flush=True)

    app = Starlette(
        routes=node.routes(),
        middleware=[
            Middleware(
                RequestGuard,
                settings=settings,
                upload_bytes=max(
                    (r.max_file_bytes for r in node.attachments.rules.values() if r.limits),
                    default=0,
                ),
            )
        ],
        lifespan=lifespan,
        exception_handlers={GatewayError: gateway_error_handler, HTTPException: http_error_handler},
    )
    app.state.web = node.web
    app.state.node = node
    return app
