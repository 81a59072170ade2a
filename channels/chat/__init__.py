"""Chat: the website widget, the first channel adapter.

A visitor's browser asks ``/widget/bootstrap`` for a session token (only for a page that
matches the touchpoint's domain: domain.py; with the site's signed identity if it sends
one: identity.py), then holds ``/ws/visitor`` (visitor_socket.py), where the contact
side of the core is shown live: every tab of a visitor subscribes to the visitor's bus
topic, and this adapter publishes the core's notices there. The widget's files and the
demo shop are served by pages.py.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated

import msgspec
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from channels.base import ChannelAdapter, Core, Problems
from channels.chat import pages
from channels.chat.bootstrap import ENDPOINT, bootstrap
from channels.chat.domain import InvalidDomain, match_page, parse_domain
from channels.chat.email_followup import EmailFollowUp, check_settings
from channels.chat.embed import CHECK, REFUSALS, SNIPPET, check
from channels.chat.uploads import UPLOAD, visitor_upload
from channels.chat.visitor_socket import VisitorSockets, visitor_topic
from gateway import protocol as p
from gateway import topics
from gateway.aio import cancel_and_wait
from gateway.errors import CloseCode, InvalidInput
from gateway.model.records import Conversation, Touchpoint
from gateway.services.notify import BotNote, ContactNote, MessageNote, TypingNote, UnreadNote
from gateway.services.views import frame_for
from gateway.web.admin.http import Ctx, json_response, route
from gateway.web.openapi import Endpoint


class DomainMatchQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    page_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class DomainMatchOut(msgspec.Struct, kw_only=True):
    matched: bool
    reason: str
    domain: str
    accepts: str


async def match_touchpoint(ctx: Ctx) -> Response:
    """``GET /api/admin/touchpoints/{id}/match``: why a page does or does not match."""
    query: DomainMatchQuery = ctx.query
    tp = await ctx.store.get_touchpoint(ctx.param())
    try:
        rule = parse_domain(tp.domain)
    except InvalidDomain as exc:
        raise InvalidInput(
            [("domain", f"the touchpoint's domain is not valid: {exc.message}")]
        ) from None
    m = match_page(rule, query.page_url)
    return json_response(
        DomainMatchOut(
            matched=m.matched, reason=m.reason, domain=str(rule), accepts=rule.describe()
        )
    )


MATCH = Endpoint(
    "GET",
    "/api/admin/touchpoints/{id}/match",
    "Why a page does or does not match",
    "admin",
    match_touchpoint,
    query=DomainMatchQuery,
    response=DomainMatchOut,
    errors=(404,),
)


class ChatChannel(ChannelAdapter):
    name = "chat"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        # answers to left messages and transcripts by email (email_followup.py)
        self.followup = EmailFollowUp(core)
        self.sockets = VisitorSockets(core, self.followup.transcript)
        core.deliveries.register(self.name, self.followup)
        self._renewer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_tokens(), name="visitor token renewal")

    async def stop(self) -> None:
        await cancel_and_wait(self._renewer)

    async def _renew_tokens(self) -> None:
        """Every third of a visitor token's life, a fresh token for every open visitor
        socket, so a reconnect always has a valid one."""
        while True:
            await asyncio.sleep(self.core.tokens.visitor_ttl / 3)
            await self.sockets.renew_all()

    async def configuration_changed(self) -> None:
        """Close the sockets of visitors whose touchpoint was deactivated or deleted."""
        touchpoints = self.core.directory.touchpoints
        for conn in self.core.hub.connections(topics.contact("chat", "")):
            tp = touchpoints.get(conn.touchpoint_id)
            if tp is None or not tp.active:
                conn.abort(CloseCode.FORBIDDEN, "this touchpoint does not accept chats")

    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        if not tp.domain:
            return tp, [
                ("domain", "a chat touchpoint needs its website's domain, e.g. example.com")
            ]
        try:
            domain = str(parse_domain(tp.domain))
        except InvalidDomain as exc:
            return tp, [("domain", exc.message)]
        # a JSON merge patch's null clears the setting
        settings = {k: v for k, v in tp.settings.items() if v is not None}
        problems = check_settings(self.core.directory.touchpoints, settings)
        return msgspec.structs.replace(tp, domain=domain, settings=settings), problems

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/widget/bootstrap",
                functools.partial(bootstrap, by_email=self.followup.offers),
                methods=["POST"],
            ),
            Route("/widget/check", check, methods=["GET"]),
            Route("/widget/attachments", visitor_upload, methods=["POST"]),
            WebSocketRoute("/ws/visitor", self.sockets.endpoint),
            *pages.routes(self.core.settings.demo),
        ]

    def api_routes(self) -> list[BaseRoute]:
        return [route(MATCH), route(SNIPPET), route(REFUSALS)]

    def endpoints(self) -> list[Endpoint]:
        return [ENDPOINT, UPLOAD, CHECK, MATCH, SNIPPET, REFUSALS]

    async def conversation_state(self, conv: Conversation) -> p.ChannelState | None:
        return await self.followup.conversation_state(conv)

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Every open tab of the visitor shows it (but the one that sent it: its ack
        carries it); a message to the visitor carries their unread count."""
        skip = ""
        if isinstance(note, MessageNote):
            data = note.frame
            skip = note.skip
            if note.unread is not None:
                out = note.out or frame_for(note.message, note.sender_name)
                if isinstance(out, p.MessageOut):
                    data = p.encode(msgspec.structs.replace(out, unread=note.unread))
                else:  # an event carries no count: it follows on its own
                    await self.core.notifier.publish(visitor_topic(conv.address), data, skip)
                    data = p.encode(p.Unread(conversation_id=conv.id, count=note.unread))
        elif isinstance(note, UnreadNote):
            data = p.encode(p.Unread(conversation_id=conv.id, count=note.count))
        elif isinstance(note, TypingNote):
            data = p.encode(
                p.Typing(conversation_id=conv.id, active=note.active, who="agent", name=note.name)
            )
        elif isinstance(note, BotNote):
            data = p.encode(p.BotHolds(conversation_id=conv.id, active=note.active))
        else:  # pragma: no cover - the union has no other member
            return
        await self.core.notifier.publish(visitor_topic(conv.address), data, skip)
