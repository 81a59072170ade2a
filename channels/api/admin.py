"""The admin API rows an integration touchpoint adds (docs/admin-api.md, "Integration
touchpoints"): its API keys (made, shown once, listed, revoked), its dead letters
(outbound messages whose delivery failed, and events to it as a bot that were given up
on), each replayable. The failed messages' rows serve every touchpoint whose channel's
deliveries are tracked (SMS, WhatsApp, Messenger, email too)."""

from __future__ import annotations

from starlette.responses import Response

from channels.api.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    FailedMessage,
    ReplayIn,
    failed_message,
)
from channels.base import Core
from gateway.errors import InvalidInput, NotFound
from gateway.model.integrations import ApiKey, bot_target
from gateway.model.records import Touchpoint
from gateway.web.admin.config import checked_name
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.admin.webhooks import (
    EventsQuery,
    OutboxEventOut,
    PagedEventOut,
    events_page,
    outbox_event_out,
    paged_event_out,
)
from gateway.web.openapi import Endpoint

ONE = "/api/admin/touchpoints/{id}"


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


class Admin:
    """Handlers with the core at hand."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _touchpoint(self, ctx: Ctx) -> Touchpoint:
        tp = self.core.directory.touchpoints.get(ctx.param())
        if tp is None or tp.channel != "api":
            raise NotFound("no such integration touchpoint")
        return tp

    def _tracked(self, ctx: Ctx) -> Touchpoint:
        """A touchpoint whose messages out are delivery jobs: its dead letters."""
        tp = self.core.directory.touchpoints.get(ctx.param())
        if tp is None or not self.core.deliveries.tracks(tp.channel):
            raise NotFound("no such touchpoint with tracked deliveries")
        return tp

    async def create_key(self, ctx: Ctx) -> Response:
        body = convert(ctx.raw, ApiKeyIn)
        tp = self._touchpoint(ctx)
        key, secret = await self.core.api_keys.create(tp.id, checked_name(body.name))
        out = key_out(key)
        return json_response(
            ApiKeyCreated(
                id=out.id,
                name=out.name,
                prefix=out.prefix,
                created_at=out.created_at,
                revoked_at=out.revoked_at,
                key=secret,
            ),
            201,
        )

    async def list_keys(self, ctx: Ctx) -> Response:
        tp = self._touchpoint(ctx)
        return json_response([key_out(k) for k in await self.core.api_keys.list(tp.id)])

    async def revoke_key(self, ctx: Ctx) -> Response:
        tp = self._touchpoint(ctx)
        await self.core.api_keys.revoke(tp.id, ctx.param("key_id"))
        return Response(status_code=204)

    async def failed(self, ctx: Ctx) -> Response:
        tp = self._tracked(ctx)
        rows = await self.core.deliveries.failed(tp.id, 200)
        return json_response([failed_message(m) for m in rows])

    async def replay_failed(self, ctx: Ctx) -> Response:
        body = convert(ctx.raw, ReplayIn)
        tp = self._tracked(ctx)
        conv = await self.core.conversations.get(body.conversation_id)
        if conv.touchpoint_id != tp.id:
            raise NotFound("no such conversation on this touchpoint")
        return json_response(failed_message(await self.core.deliveries.replay(conv.id, body.seq)))

    async def bot_events(self, ctx: Ctx) -> Response:
        tp = self._touchpoint(ctx)
        rows = await events_page(self.core.outbox, bot_target(tp.id), ctx.query)  # as a webhook's
        return json_response([paged_event_out(e) for e in rows])

    async def replay_bot_event(self, ctx: Ctx) -> Response:
        tp = self._touchpoint(ctx)
        event_id = ctx.param("event_id")
        if not event_id:
            raise InvalidInput([("event_id", "required")])
        return json_response(
            outbox_event_out(await self.core.outbox.replay(bot_target(tp.id), event_id))
        )

    def endpoints(self) -> list[Endpoint]:
        # fmt: off
        return [
            Endpoint("POST", ONE + "/api-keys", "Make an API key (shown once)", "admin",
                     self.create_key, body=ApiKeyIn, response=ApiKeyCreated, status=201,
                     errors=(404,),
                     description="Integration touchpoints only. The answer's key is the only "
                     "time it is shown: the gateway keeps its SHA-256 digest. A touchpoint "
                     "may have several keys, to rotate them."),
            Endpoint("GET", ONE + "/api-keys", "List the API keys (never the keys)", "admin",
                     self.list_keys, response=list[ApiKeyOut], errors=(404,)),
            Endpoint("DELETE", ONE + "/api-keys/{key_id}", "Revoke an API key", "admin",
                     self.revoke_key, status=204, errors=(404,),
                     description="At once, on every node. It stays listed, with revoked_at."),
            Endpoint("GET", ONE + "/failed-messages", "Dead letters: outbound messages that "
                     "failed", "admin", self.failed, response=list[FailedMessage],
                     errors=(404,),
                     description="Messages to the touchpoint's contacts (an integration, "
                     "SMS, WhatsApp, Messenger, email) whose delivery failed (after "
                     "GATEWAY_DELIVERY_MAX_ATTEMPTS tries or a final refusal), newest first, "
                     "with the reason."),
            Endpoint("POST", ONE + "/failed-messages/replay", "Deliver a failed message again",
                     "admin", self.replay_failed, body=ReplayIn, response=FailedMessage,
                     errors=(404, 409),
                     description="Pending again, now, with its seq and event id (409 if its "
                     "delivery did not fail)."),
            Endpoint("GET", ONE + "/bot-events", "Events to this touchpoint as a bot",
                     "admin", self.bot_events, query=EventsQuery,
                     response=list[PagedEventOut], errors=(404,),
                     description="Newest first; state=dead lists the dead letters. Paged "
                     "by the last event's cursor, as a webhook's events are."),
            Endpoint("POST", ONE + "/bot-events/{event_id}/replay", "Deliver an event to the "
                     "bot again", "admin", self.replay_bot_event, response=OutboxEventOut,
                     errors=(404, 409)),
        ]
        # fmt: on
