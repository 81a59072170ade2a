"""The supervisor's live conversations in the admin API: the list the console's ``live``
view shows, filtered and paged, and a transfer (docs/admin-api.md, "Live conversations").

Nothing here decides anything: the rows are the live view's (gateway/services/live.py,
read from the router this node reads, the leader's own or a follower's replica), and a
transfer is the console's transfer frame, handed to the same desk
(gateway/services/agent_desk.py ``act``): the router refuses or accepts it (a follower
forwards it to the leader) and its effects tell the agents' consoles as after a socket
transfer. Both are for the roles that may watch the live view (supervisors, admins).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from starlette.responses import Response

import routing as r
from gateway import protocol as p
from gateway.errors import NotFound
from gateway.model.channels import ChannelName
from gateway.model.records import Agent
from gateway.web.admin import paging
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.admin.paging import Cursor
from gateway.web.admin.schemas import Id

LiveState = Literal["bot", "waiting", "offered", "assigned", "wrapup"]


class LiveQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    state: LiveState | None = None
    # in this queue (one of its queue_ids)
    queue_id: Id | None = None
    # held by this agent, or ringing them
    agent_id: Id | None = None
    touchpoint_id: Id | None = None
    channel: ChannelName | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class LiveConversationOut(msgspec.Struct, kw_only=True):
    id: str
    touchpoint_id: str
    touchpoint_name: str
    channel: str
    state: str
    queue_ids: list[str]
    priority: int
    contact_id: str
    contact_name: str
    # who holds it ("" nobody) and who it rings now ("" nobody)
    agent_id: str
    offer_agent_id: str
    # in its dedicated agent's backlog (the touchpoint's dedicated mode)
    dedicated: bool
    # when it arrived (UNIX seconds; kept through send-to-inbox) and seconds since, at `now`
    arrived_at: float
    age: float
    # messages its agent has not read yet (the console's yellow bubble), and its contact
    agent_unread: int
    contact_unread: int
    # pass as cursor for the conversations after this one
    cursor: str


class LivePage(msgspec.Struct, kw_only=True, omit_defaults=True):
    # the server's time the rows were read at
    now: float
    items: list[LiveConversationOut]
    # pass as cursor for the next page; absent when this page is the last
    next_cursor: str | None = None


class TransferIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The console's transfer frame's fields: to an agent or to a queue, exactly one."""

    to_agent_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    to_queue_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    # for the receiving agent: kept as a note of the conversation, never sent to the contact
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


def _supervisor(ctx: Ctx) -> Agent:
    """The caller, if the access policy lets them watch the live view (the socket's
    ``live`` frame asks the same)."""
    caller = ctx.caller
    assert caller is not None  # the rows are for supervisors: authenticated
    ctx.web.workspace.access.check_watches_live(caller)
    return caller


def _wanted(view: r.ConversationView, query: LiveQuery) -> bool:
    return (
        (query.state is None or view.state == query.state)
        and (query.queue_id is None or query.queue_id in view.queue_ids)
        and (query.agent_id is None or query.agent_id in (view.owner_agent_id, view.offer_agent_id))
        and (query.touchpoint_id is None or view.touchpoint_id == query.touchpoint_id)
        and (query.channel is None or view.channel == query.channel)
    )


async def list_live(ctx: Ctx) -> Response:
    _supervisor(ctx)
    query: LiveQuery = ctx.query
    after = paging.time_and_id(query.cursor) if query.cursor is not None else None
    live = ctx.web.workspace.live
    now = ctx.now()
    # arrival order: the longest waiting first, rows of one instant by id
    views = sorted(
        (v for v in live.views() if _wanted(v, query)),
        key=lambda v: (v.arrived_at, v.conversation_id),
    )
    if after is not None:
        views = [v for v in views if (v.arrived_at, v.conversation_id) > after]
    page = views[: query.limit]
    items = []
    for view in page:
        try:
            conv = await ctx.store.get_conversation(view.conversation_id)
        except NotFound:  # deleted meanwhile (a contact forgotten)
            continue
        row = await live.row(conv)
        if row is None:  # it left the router meanwhile (closed)
            continue
        items.append(
            LiveConversationOut(
                id=conv.id,
                touchpoint_id=conv.touchpoint_id,
                touchpoint_name=row.touchpoint_name,
                channel=row.channel,
                state=row.state,
                queue_ids=row.queue_ids,
                priority=row.priority,
                contact_id=conv.contact_id,
                contact_name=row.contact_name,
                agent_id=row.agent_id,
                offer_agent_id=row.offer_agent_id,
                dedicated=row.dedicated,
                arrived_at=row.arrived_at,
                age=round(max(0.0, now - row.arrived_at), 3),
                agent_unread=conv.agent_unread,
                contact_unread=conv.contact_unread,
                cursor=paging.encode(view.arrived_at, view.conversation_id),
            )
        )
    last = page[-1] if len(views) > query.limit else None
    return json_response(
        LivePage(
            now=now,
            items=items,
            next_cursor=paging.encode(last.arrived_at, last.conversation_id) if last else None,
        )
    )


async def transfer(ctx: Ctx) -> Response:
    caller = _supervisor(ctx)
    web = ctx.web
    conv = await web.desk.conversation(caller, ctx.param())  # 404 for an unknown id
    body = convert(ctx.raw, TransferIn)
    frame = p.Transfer(
        conversation_id=conv.id,
        to_agent_id=body.to_agent_id,
        to_queue_id=body.to_queue_id,
        note=body.note,
    )
    # as the console's transfer frame is (gateway/web/agent_socket.py): the router
    # refuses (409, its code) or moves it, and its effects tell the consoles
    await web.act(caller, frame)
    return json_response(await ctx.store.get_conversation(conv.id))
