"""The email channel's admin API rows: a mailbox's connection status (with the admins'
notices: "Email provider connection lost", the OAuth re-check reminder) and reconnect /
reauthenticate, which restore every pending email (docs/channels/email.md)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated

import msgspec
from starlette.responses import Response

from gateway.errors import InvalidInput, NotFound
from gateway.model.channel_state import Connection
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.openapi import Endpoint

if TYPE_CHECKING:
    from channels.email import EmailChannel

REMINDER_PERIOD = 14 * 24 * 3600.0
LOST_NOTICE = "Email provider connection lost"
RECHECK_NOTICE = "Re-check this email touchpoint's connection (OAuth, every 14 days)"

Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]


class ReconnectIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Reconnect with the stored credentials (an empty body), or reauthenticate with new
    ones (the password, or a fresh OAuth2 access token)."""

    password: Secret | None = None
    oauth_token: Secret | None = None


class EmailStatus(msgspec.Struct, kw_only=True):
    touchpoint_id: str
    address: str
    provider: str
    auth: str
    active: bool
    # connecting, connected, lost; "inactive" for a touchpoint that is not read
    status: str
    reason: str = ""
    since: float | None = None
    connected_at: float | None = None
    # what admins are shown: "Email provider connection lost", the re-check reminder
    notices: list[str] = []
    # OAuth touchpoints: when the next re-check is due
    recheck_due_at: float | None = None


def recheck_due_at(conn: Connection | None, auth: str) -> float | None:
    if auth != "oauth2" or conn is None or conn.connected_at is None:
        return None
    base = max(conn.connected_at, conn.reminded_at or 0.0)
    return base + REMINDER_PERIOD


def status_of(
    tp_id: str,
    settings: dict[str, object],
    active: bool,
    read: bool,
    conn: Connection | None,
    now: float,
) -> EmailStatus:
    auth = str(settings.get("auth", "password"))
    due = recheck_due_at(conn, auth)
    notices = []
    if conn is not None and conn.status == "lost":
        notices.append(LOST_NOTICE)
    if due is not None and now >= due:
        notices.append(RECHECK_NOTICE)
    return EmailStatus(
        touchpoint_id=tp_id,
        address=str(settings.get("address", "")),
        provider=str(settings.get("provider", "imap")),
        auth=auth,
        active=active,
        status=(conn.status if conn else "connecting") if read else "inactive",
        reason=conn.reason if conn else "",
        since=conn.since if conn else None,
        connected_at=conn.connected_at if conn else None,
        notices=notices,
        recheck_due_at=due,
    )


async def status(channel: EmailChannel, ctx: Ctx) -> Response:
    tp = await ctx.store.get_touchpoint(ctx.param())
    if tp.channel != "email":
        raise NotFound("not an email touchpoint")
    readable = tp.active and tp.direction in ("inbound", "both")
    conn = await channel.core.state.connection(tp.id)
    return json_response(
        status_of(tp.id, tp.settings, tp.active, readable, conn, channel.core.clock())
    )


async def reconnect(channel: EmailChannel, ctx: Ctx) -> Response:
    body = convert(ctx.raw, ReconnectIn)
    tp = await ctx.store.get_touchpoint(ctx.param())
    if tp.channel != "email":
        raise NotFound("not an email touchpoint")
    settings = dict(tp.settings)
    if body.password is not None:
        settings |= {"password": body.password, "auth": "password"}
    if body.oauth_token is not None:
        settings |= {"oauth_token": body.oauth_token, "auth": "oauth2"}
    if settings != tp.settings:
        checked, problems = channel.check_touchpoint(msgspec.structs.replace(tp, settings=settings))
        if problems:
            raise InvalidInput(problems)
        await ctx.store.update_touchpoint(checked)  # a delete meanwhile: 404, not recreated
    await channel.core.state.set_connection(tp.id, "connecting", "reconnect requested")
    await ctx.changed()  # every node reloads; the one reading the mailbox reconnects
    return await status(channel, ctx)


def endpoints(channel: EmailChannel) -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/api/admin/touchpoints/{id}/email",
            "An email touchpoint's connection status and notices",
            "admin",
            functools.partial(status, channel),
            response=EmailStatus,
            errors=(404,),
            description="status: connecting, connected, lost (with the reason), or "
            "inactive; notices: 'Email provider connection lost' and the OAuth "
            "re-check reminder.",
        ),
        Endpoint(
            "POST",
            "/api/admin/touchpoints/{id}/email/reconnect",
            "Reconnect (or reauthenticate) an email touchpoint",
            "admin",
            functools.partial(reconnect, channel),
            body=ReconnectIn,
            response=EmailStatus,
            errors=(404,),
            description="An empty body reconnects with the stored credentials; a "
            "password or oauth_token reauthenticates. Every pending email is "
            "restored: nothing lost, nothing twice.",
        ),
    ]
