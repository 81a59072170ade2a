"""Admin handlers for automations: webhooks on conversation events, configured for the
account (this gateway) with filters, and their events, listed and replayed
(docs/admin-api.md, "Automations"; docs/integration-api.md, "Events")."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.responses import Response

from gateway.errors import InvalidInput, NotFound
from gateway.model.channels import ChannelName
from gateway.model.integrations import EVENT_TYPES, EventType, OutboxEvent, OutboxState, Webhook
from gateway.services.outbox import Outbox
from gateway.services.webhooks import check_url
from gateway.web.admin import paging
from gateway.web.admin.config import (
    merge_patch,
    missing_ids,
    new_or_given_id,
    read_only,
    visible_name,
)
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.admin.paging import Cursor
from gateway.web.admin.schemas import Id, Name

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Secret = Annotated[
    str,
    msgspec.Meta(
        min_length=32,
        max_length=512,
        description="write-only: signs every delivery (HMAC-SHA256); omit to keep",
    ),
]


class WebhookIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An automation. Empty filters match every conversation."""

    name: Name
    url: Url
    events: Annotated[list[EventType], msgspec.Meta(min_length=1)]
    secret: Secret | None = None
    channels: list[ChannelName] = []
    touchpoint_ids: list[Id] = []
    queue_ids: list[Id] = []
    active: bool = True


class WebhookCreate(WebhookIn, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None


class WebhookOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    url: str
    events: list[str]
    secret_set: bool
    channels: list[str]
    touchpoint_ids: list[str]
    queue_ids: list[str]
    active: bool
    created_at: float


class EventsQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A page of events: a webhook's, or an integration's to its bot (cursor paging)."""

    state: OutboxState | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class OutboxEventOut(msgspec.Struct, kw_only=True):
    """An event of the outbox as the admin API lists it (account webhooks here, an
    integration's events to its bot in channels/api/admin.py)."""

    event_id: str
    type: str
    conversation_id: str
    state: OutboxState
    attempts: int
    last_error: str
    created_at: float
    delivered_at: float | None
    next_attempt_at: float | None


class PagedEventOut(OutboxEventOut, kw_only=True):
    """An event in a list paged by a cursor (a webhook's events, an integration's to its
    bot)."""

    # pass as cursor for the (older) events after this one
    cursor: str


class WebhookEvent(PagedEventOut, kw_only=True):
    # what was (or will be) sent, but the contact and the names, read when sent
    payload: dict[str, Any]


def webhook_out(w: Webhook) -> WebhookOut:
    return WebhookOut(
        id=w.id,
        name=w.name,
        url=w.url,
        events=list(w.events),
        secret_set=bool(w.secret),
        channels=list(w.channels),
        touchpoint_ids=list(w.touchpoint_ids),
        queue_ids=list(w.queue_ids),
        active=w.active,
        created_at=w.created_at,
    )


def outbox_event_out(e: OutboxEvent) -> OutboxEventOut:
    return OutboxEventOut(**_event_fields(e))


def paged_event_out(e: OutboxEvent) -> PagedEventOut:
    return PagedEventOut(**_event_fields(e), cursor=paging.encode(e.n))


def event_out(e: OutboxEvent) -> WebhookEvent:
    return WebhookEvent(**_event_fields(e), payload=e.payload, cursor=paging.encode(e.n))


def _event_fields(e: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "type": e.type,
        "conversation_id": e.conversation_id,
        "state": e.state,
        "attempts": e.attempts,
        "last_error": e.last_error,
        "created_at": e.created_at,
        "delivered_at": e.delivered_at,
        "next_attempt_at": e.due if e.state == "pending" else None,
    }


async def _build(ctx: Ctx, body: WebhookIn, hook_id: str, existing: Webhook | None) -> Webhook:
    """Validate every field (each problem reported) and make the record."""
    errors: list[tuple[str, str]] = []
    name = visible_name(body.name, "name", errors)
    if why := check_url(body.url):
        errors.append(("url", why))
    secret = body.secret if body.secret is not None else (existing.secret if existing else "")
    if not secret:
        errors.append(("secret", "a signing secret of at least 32 characters is required"))
    touchpoints = {t.id for t in await ctx.store.list_touchpoints()}
    if missing := missing_ids(body.touchpoint_ids, touchpoints):
        errors.append(("touchpoint_ids", f"unknown touchpoint id(s): {', '.join(missing)}"))
    queues = {q.id for q in await ctx.store.list_queues()}
    if missing := missing_ids(body.queue_ids, queues):
        errors.append(("queue_ids", f"unknown queue id(s): {', '.join(missing)}"))
    if errors:
        raise InvalidInput(errors)
    return Webhook(
        id=hook_id,
        name=name,
        url=body.url,
        secret=secret,
        events=[e for e in EVENT_TYPES if e in body.events],
        channels=list(dict.fromkeys(body.channels)),
        touchpoint_ids=list(dict.fromkeys(body.touchpoint_ids)),
        queue_ids=list(dict.fromkeys(body.queue_ids)),
        active=body.active,
        created_at=existing.created_at if existing else ctx.now(),
    )


async def list_webhooks(ctx: Ctx) -> Response:
    return json_response([webhook_out(w) for w in await ctx.store.list_webhooks()])


async def create_webhook(ctx: Ctx) -> Response:
    body = convert(ctx.raw, WebhookCreate)
    hook_id = await new_or_given_id(body.id, "wh", ctx.store.get_webhook)
    hook = await _build(ctx, body, hook_id, None)
    await ctx.store.create_webhook(hook)  # 409 if a create of the id won meanwhile
    await ctx.changed()
    return json_response(webhook_out(hook), 201)


async def get_webhook(ctx: Ctx) -> Response:
    return json_response(webhook_out(await ctx.store.get_webhook(ctx.param())))


async def _edit(ctx: Ctx, *, patch: bool) -> Response:
    current = await ctx.store.get_webhook(ctx.param())
    out: dict[str, Any] = msgspec.to_builtins(webhook_out(current))
    raw = read_only(ctx.raw, out, ("id", "created_at", "secret_set"))
    if patch:
        for name in ("id", "created_at", "secret_set"):
            out.pop(name)
        raw = merge_patch(out, raw)
    hook = await _build(ctx, convert(raw, WebhookIn), current.id, current)
    await ctx.store.update_webhook(hook)
    await ctx.changed()
    return json_response(webhook_out(hook))


async def put_webhook(ctx: Ctx) -> Response:
    return await _edit(ctx, patch=False)


async def patch_webhook(ctx: Ctx) -> Response:
    return await _edit(ctx, patch=True)


async def delete_webhook(ctx: Ctx) -> Response:
    await ctx.store.delete_webhook(ctx.param())
    await ctx.changed()
    return Response(status_code=204)


def _outbox(ctx: Ctx) -> Any:
    if ctx.web.outbox is None:  # pragma: no cover - the composition root sets it
        raise NotFound("this node delivers no webhooks")
    return ctx.web.outbox


async def events_page(outbox: Outbox, target: str, query: EventsQuery) -> list[OutboxEvent]:
    """The page of ``target``'s events ``query`` asks for: newest first, after the event
    its cursor names (its sequence number, unique: events of one instant are neither
    lost nor repeated)."""
    before = paging.number(query.cursor) if query.cursor is not None else None
    return await outbox.events(target, query.state, query.limit, before)


async def webhook_events(ctx: Ctx) -> Response:
    hook = await ctx.store.get_webhook(ctx.param())
    events = await events_page(_outbox(ctx), hook.id, ctx.query)
    return json_response([event_out(e) for e in events])


async def replay_webhook_event(ctx: Ctx) -> Response:
    hook = await ctx.store.get_webhook(ctx.param())
    return json_response(event_out(await _outbox(ctx).replay(hook.id, ctx.param("event_id"))))
