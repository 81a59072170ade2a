"""``GET /api/admin/notices``: the admin notices, newest first (gateway/services/notices.py)."""

from __future__ import annotations

from starlette.responses import Response

from gateway.web.admin.http import Ctx, json_response
from gateway.web.admin.schemas import NoticeOut, NoticesQuery


async def list_notices(ctx: Ctx) -> Response:
    query: NoticesQuery = ctx.query
    notices = await ctx.web.notices.recent(query.limit, query.before)
    return json_response(
        [
            NoticeOut(
                id=n.id,
                kind=n.kind,
                message=n.message,
                touchpoint_id=n.touchpoint_id,
                conversation_id=n.conversation_id,
                created_at=n.created_at,
            )
            for n in notices
        ]
    )
