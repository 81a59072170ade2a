"""The agents' message API: write a message that carries channel content (an email's
recipients, subject and HTML: reply, reply all, CC, BCC, forward), and read the content
of a conversation's messages (the console's email view). Plain replies go over the agent
socket; this is for what a socket frame does not carry.

Who may write or read is the agent desk's and the access policy's, as on the socket:
only the owner writes; whoever may read the history reads the content.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.responses import Response

from gateway import protocol as p
from gateway.errors import AuthError
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.openapi import Endpoint


class MessageIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    client_msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    # the text (an email's plain part when ``content`` has no HTML)
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
    # the channel's content, checked by its adapter (docs/channels/email.md)
    content: dict[str, Any] | None = None


class StartIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    touchpoint_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    # the contact's address on the channel: a phone number (SMS), an email address
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    client_msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
    # email: subject (required), cc, bcc, html (docs/channels/email.md)
    content: dict[str, Any] | None = None


class StartTouchpoint(msgspec.Struct, kw_only=True):
    id: str
    name: str
    channel: str
    label: str


class StartOptions(msgspec.Struct, kw_only=True):
    touchpoints: list[StartTouchpoint]


class ContentOut(msgspec.Struct, kw_only=True):
    conversation_id: str
    # by the message's client id (an email's Message-ID for what the contact wrote)
    items: dict[str, dict[str, Any]]


async def send_message(ctx: Ctx) -> Response:
    if ctx.caller is None:  # pragma: no cover - the route requires a login
        raise AuthError("log in")
    body = convert(ctx.raw, MessageIn)
    desk = ctx.web.desk
    conv = await desk.conversation(ctx.caller, ctx.param())
    ack: p.Ack = await desk.send(
        ctx.caller, conv, body.client_msg_id, body.body, content=body.content
    )
    return json_response(ack, 200 if ack.duplicate else 201)


async def start_conversation(ctx: Ctx) -> Response:
    if ctx.caller is None:  # pragma: no cover - the route requires a login
        raise AuthError("log in")
    b = convert(ctx.raw, StartIn)
    _, ack = await ctx.web.outbound.start(
        ctx.caller, b.touchpoint_id, b.address, b.client_msg_id, b.body, b.content
    )
    return json_response(ack, 200 if ack.duplicate else 201)


async def start_options(ctx: Ctx) -> Response:
    if ctx.caller is None:  # pragma: no cover - the route requires a login
        raise AuthError("log in")
    tps = ctx.web.outbound.touchpoints(ctx.caller)
    return json_response(
        StartOptions(
            touchpoints=[
                StartTouchpoint(id=t.id, name=t.name, channel=t.channel, label=label)
                for t, label in tps
            ]
        )
    )


async def message_content(ctx: Ctx) -> Response:
    if ctx.caller is None:  # pragma: no cover - the route requires a login
        raise AuthError("log in")
    conv = await ctx.web.desk.readable(ctx.caller, ctx.param())
    items = await ctx.web.channel_state.contents(conv.id)
    return json_response(ContentOut(conversation_id=conv.id, items=items))


# fmt: off
MESSAGE_ENDPOINTS = [
    Endpoint("POST", "/api/conversations", "Start a conversation (outbound SMS or email)",
             "agent", start_conversation, tag="agents", body=StartIn, response=p.Ack,
             status=201, errors=(403, 404, 409, 422),
             description="The agent writes first, on a touchpoint of one of their queues "
             "whose direction is outbound or both, on a channel agents may start (SMS, "
             "email; never WhatsApp or Messenger: 403 outbound_start_unavailable). The "
             "conversation is the agent's at once and `body` its first message. 409 "
             "opted_out for an SMS number that texted STOP, 409 conversation_open when the "
             "contact has a live conversation on the touchpoint with someone else (a retry "
             "by the same agent is idempotent on client_msg_id: 200, duplicate=true); 422 "
             "for an invalid address, or an email without content.subject."),
    Endpoint("POST", "/api/conversations/{id}/messages", "Write a message with channel content",
             "agent", send_message, tag="agents", body=MessageIn, response=p.Ack, status=201,
             errors=(403, 404, 409),
             description="The owner's reply with what the channel carries beyond text "
             "(email: to, cc, bcc, subject, html). Idempotent on client_msg_id (200 and "
             "duplicate=true for a retry). The message is delivered as any reply is."),
    Endpoint("GET", "/api/outbound/touchpoints", "Touchpoints you may start a conversation "
             "on", "agent", start_options, tag="agents", response=StartOptions,
             description="Active touchpoints of your queues (any, for a supervisor or "
             "admin) on a channel agents may start (SMS, email), whose direction is "
             "outbound or both: the console's New conversation dialog."),
    Endpoint("GET", "/api/conversations/{id}/content", "The channel content of a "
             "conversation's messages", "agent", message_content, tag="agents",
             response=ContentOut, errors=(403, 404),
             description="Email: subject, sanitised HTML and quoted HTML, recipients, "
             "threading headers, attachments' list and notices, by message client id."),
]
# fmt: on
