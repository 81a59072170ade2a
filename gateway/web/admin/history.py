"""Admin handlers for history: conversations (paged messages), contacts, export, and
deletion of a contact's data on request (right to be forgotten).

Reading history is for supervisors and admins (supervisors see live conversations, so
they may read what was said); export and deletion are for admins only."""

from __future__ import annotations

import logging
import re

from starlette.responses import Response

from gateway.errors import GatewayError, InUse
from gateway.model.records import OPEN_STATES
from gateway.web.admin import paging
from gateway.web.admin.http import Ctx, json_response
from gateway.web.admin.schemas import (
    ContactDeleted,
    ConversationList,
    HistoryPage,
    HistoryQuery,
    RatingsPage,
    RatingsQuery,
)

log = logging.getLogger("gateway.admin")


async def get_conversation(ctx: Ctx) -> Response:
    return json_response(await ctx.store.get_conversation(ctx.param()))


async def conversation_messages(ctx: Ctx) -> Response:
    query: HistoryQuery = ctx.query
    store = ctx.store
    conv = await store.get_conversation(ctx.param())  # 404 for an unknown id
    # The newest page when no before_seq is given.
    before = query.before_seq if query.before_seq is not None else conv.last_seq + 1
    rows = await store.messages(conv.id, before_seq=before, limit=query.limit + 1)
    has_more = len(rows) > query.limit
    if has_more:
        rows = rows[1:]
    return json_response(
        HistoryPage(
            conversation_id=conv.id,
            items=rows,
            has_more=has_more,
            next_before_seq=rows[0].seq if has_more and rows else None,
        )
    )


async def get_contact(ctx: Ctx) -> Response:
    return json_response(await ctx.store.get_contact(ctx.param()))


async def contact_conversations(ctx: Ctx) -> Response:
    store = ctx.store
    contact = await store.get_contact(ctx.param())
    convs = await store.list_conversations(contact_id=contact.id)
    return json_response(ConversationList(contact_id=contact.id, items=convs))


async def export_contact(ctx: Ctx) -> Response:
    contact_id = ctx.param()
    data = await ctx.store.export_contact(contact_id)
    safe = re.sub(r"[^A-Za-z0-9_\-]", "_", contact_id)
    return json_response(
        data, headers={"Content-Disposition": f'attachment; filename="contact-{safe}.json"'}
    )


async def delete_contact(ctx: Ctx) -> Response:
    store = ctx.store
    contact = await store.get_contact(ctx.param())
    live = await store.list_conversations(contact_id=contact.id, states=list(OPEN_STATES))
    if live and not ctx.query.force:
        raise InUse(
            "the contact has open conversations: end them first, or pass force=true",
            {"conversations": [c.id for c in live]},
        )
    # the agents' rows of its open conversations, read while they can be
    rows = await ctx.web.conversations.rows_gone_with(live)
    count = await store.delete_contact(contact.id)
    ctx.web.contacts.forget(contact.id)
    # Its files now, rather than at the next sweep (which retries if this fails).
    try:
        await ctx.web.attachments.drain()
    except GatewayError as exc:
        log.warning("files of a deleted contact not deleted yet: %s", exc.message)
    if live:  # the router still holds them: rebuild it from the store
        await ctx.changed()
        # and they leave the agents' lists now, not at their next reconnect
        await ctx.web.conversations.rows_gone(rows)
    return json_response(ContactDeleted(contact_id=contact.id, deleted_conversations=count))


async def conversation_rating(ctx: Ctx) -> Response:
    conv = await ctx.store.get_conversation(ctx.param())  # 404 for an unknown conversation
    return json_response(await ctx.store.get_rating(conv.id))


async def list_ratings(ctx: Ctx) -> Response:
    query: RatingsQuery = ctx.query
    after = paging.time_and_id(query.cursor) if query.cursor is not None else None
    items = await ctx.store.list_ratings(
        touchpoint_id=query.touchpoint_id, since=query.since, limit=query.limit + 1, after=after
    )
    more, items = len(items) > query.limit, items[: query.limit]
    last = items[-1] if more else None
    average = round(sum(r.score for r in items) / len(items), 2) if items else None
    return json_response(
        RatingsPage(
            items=items,
            count=len(items),
            average=average,
            next_cursor=paging.encode(last.created_at, last.conversation_id) if last else None,
        )
    )
