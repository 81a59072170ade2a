"""The integration API: bring your own front end, or your own bot (docs/integration-api.md).

A third party holding an API key of an integration touchpoint starts conversations,
writes the contact's messages, escalates, transfers and closes through REST endpoints
(endpoints.py, behind http.py's checks); what agents and the system write to its
contacts is delivered to its webhook URL, signed (``deliver``, through the core's
delivery worker: retried, dead-lettered, replayable). An integration touchpoint can
also be a **bot** that a flow hands conversations of any channel to first: the core's
outbox sends it the conversation's start and the contact's messages (this adapter tells
the outbox where: ``bot:<touchpoint id>``), and it answers through the same API.

Settings (``touchpoint.settings``): ``webhook_url`` (http or https), ``signing_secret``
(at least 32 characters; write-only), ``require_signed_requests`` (false by default).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from starlette.routing import BaseRoute

from channels.api.admin import Admin
from channels.api.endpoints import ENDPOINTS
from channels.api.http import integration_route
from channels.base import ChannelAdapter, Core, Problems
from gateway.errors import NotFound
from gateway.model.records import Conversation, Message, Touchpoint
from gateway.services.deliveries import Outcome, failed
from gateway.services.event_views import event_json
from gateway.services.notify import ContactNote
from gateway.services.outbox import Receiver
from gateway.services.webhooks import check_url
from gateway.web.admin.http import route
from gateway.web.openapi import Endpoint

SETTINGS: Final = {"webhook_url", "signing_secret", "require_signed_requests"}
MIN_SECRET: Final = 32


def check_secret(secret: object) -> str | None:
    if not isinstance(secret, str) or len(secret) < MIN_SECRET:
        return f"a signing secret of at least {MIN_SECRET} characters is required"
    if len(secret) > 512:
        return "at most 512 characters"
    return None


class ApiChannel(ChannelAdapter):
    name = "api"
    secret_settings = ("signing_secret",)

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.admin = Admin(core)
        core.outbox.register("bot", self._bot_receiver)

    def _bot_receiver(self, touchpoint_id: str) -> Receiver | None:
        tp = self.core.directory.touchpoints.get(touchpoint_id)
        if tp is None or tp.channel != "api" or not tp.active:
            return None
        return _receiver(tp)

    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        settings: dict[str, Any] = dict(tp.settings)
        problems: Problems = []
        if tp.domain:
            problems.append(("domain", "integration touchpoints have no domain"))
        for key in sorted(set(settings) - SETTINGS):
            problems.append((f"settings.{key}", "unknown setting"))
        if why := check_url(settings.get("webhook_url")):
            problems.append(("settings.webhook_url", why))
        if why := check_secret(settings.get("signing_secret")):
            problems.append(("settings.signing_secret", why))
        signed = settings.setdefault("require_signed_requests", False)
        if not isinstance(signed, bool):
            problems.append(("settings.require_signed_requests", "true or false"))
        return msgspec.structs.replace(tp, settings=settings), problems

    def api_routes(self) -> list[BaseRoute]:
        return [
            *(integration_route(ep, self.core) for ep in ENDPOINTS),
            *(route(ep) for ep in self.admin.endpoints()),
        ]

    def endpoints(self) -> list[Endpoint]:
        return [*ENDPOINTS, *self.admin.endpoints()]

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Nothing live: what reaches the integration is delivered (``deliver``)."""

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        """An agent's, the system's or a bot's message (or a conversation event) to the
        integration's webhook, signed, as a ``message.created`` event whose id is the
        same on every attempt."""
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        if tp is None:
            return failed("the touchpoint was deleted")
        try:
            contact = await self.core.contacts.get(conv.contact_id)
        except NotFound:
            contact = None
        event_id = f"evt_{conv.id}_{message.seq}"
        body = event_json(
            event_id,
            "message.created",
            message.created_at,
            {"conversation": msgspec.to_builtins(conv), "message": msgspec.to_builtins(message)},
            self.core.directory,
            contact,
        )
        receiver = _receiver(tp)
        return await self.core.webhooks.post(
            receiver.url,
            receiver.secret,
            body,
            event_id=event_id,
            event_type="message.created",
        )


def _receiver(tp: Touchpoint) -> Receiver:
    return Receiver(
        str(tp.settings.get("webhook_url", "")), str(tp.settings.get("signing_secret", ""))
    )
