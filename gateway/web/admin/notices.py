"""``GET /api/admin/notices``: the admin notices, newest first (gateway/services/notices.py),
paged by a cursor of (created_at, id) (gateway/web/admin/paging.py)."""

from __future__ import annotations

from starlette.responses import Response

from gateway.errors import InvalidInput
from gateway.web.admin import paging
from gateway.web.admin.http import Ctx, json_response
from gateway.web.admin.schemas import NoticeOut, NoticesQuery


async def list_notices(ctx: Ctx) -> Response:
    query: NoticesQuery = ctx.query
    after: tuple[float, str] | None = None
    if query.cursor is not None:
        if query.before is not None:
            raise InvalidInput([("before", "give either cursor or before, not both")])
        after = paging.time_and_id(query.cursor)
    elif query.before is not None:
        # The older form: every notice created before that time (no id sorts before "").
        after = (query.before, "")
    notices = await ctx.store.list_notices(limit=query.limit, after=after)
    return json_response(
        [
            NoticeOut(
                id=n.id,
                kind=n.kind,
                message=n.message,
                touchpoint_id=n.touchpoint_id,
                conversation_id=n.conversation_id,
                created_at=n.created_at,
                cursor=paging.encode(n.created_at, n.id),
            )
            for n in notices
        ]
    )
