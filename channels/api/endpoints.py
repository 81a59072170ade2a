"""The integration API's endpoints (docs/integration-api.md): start a conversation, read
it and its messages, write in it (as the contact, or as the bot holding it), escalate,
transfer, close. One table of rows routes them and describes them in the OpenAPI
document; channels/api/http.py checks the caller first."""

from __future__ import annotations

import contextlib
import secrets

from starlette.responses import Response

from channels.api.http import ApiCtx
from channels.api.schemas import (
    ConversationOut,
    EscalateIn,
    MessageIn,
    MessageOut,
    MessagePage,
    MessagesQuery,
    StartIn,
    TransferIn,
    conversation_out,
    message_out,
)
from gateway.auth import Identity
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.model.inbound import InboundMessage
from gateway.model.records import Conversation, Message
from gateway.model.text import clean_name
from gateway.services.event_views import message_view
from gateway.web.admin.http import json_response
from gateway.web.files import UploadOut, UploadQuery, declared_size, uploaded
from gateway.web.openapi import Endpoint

BASE = "/api/integrations/{touchpoint_id}/conversations"
ONE = BASE + "/{conversation_id}"


async def _answer(ctx: ApiCtx, conv: Conversation, status: int = 200) -> Response:
    contact = await ctx.core.contacts.get(conv.contact_id)
    return json_response(conversation_out(conv, contact), status)


async def _message(ctx: ApiCtx, conv: Conversation, msg: Message) -> MessageOut:
    name = await ctx.core.contacts.name(conv.contact_id)
    return message_out(msg, message_view(msg, ctx.core.directory, conv.touchpoint_id, name))


async def _conversation(ctx: ApiCtx) -> Conversation:
    """The path's conversation, if it is this touchpoint's, or its bot is this
    touchpoint (now or before); else 404 (another's cannot even be told apart)."""
    try:
        conv = await ctx.core.conversations.get(ctx.param("conversation_id"))
    except NotFound:
        raise NotFound("no such conversation") from None
    if ctx.touchpoint.id not in (conv.touchpoint_id, conv.bot_id):
        raise NotFound("no such conversation")
    return conv


def _own(ctx: ApiCtx, conv: Conversation) -> None:
    """Only the conversation's own touchpoint speaks for the contact."""
    if conv.touchpoint_id != ctx.touchpoint.id:
        raise Conflict(
            "this touchpoint is the conversation's bot, not its front end", code="not_contact_side"
        )


def _message_id(ctx: ApiCtx, given: str | None) -> str:
    return given or ctx.idempotency_key or secrets.token_urlsafe(12)


async def start(ctx: ApiCtx) -> Response:
    body: StartIn = ctx.body
    core = ctx.core
    if body.direction == "outbound" and body.message is not None:
        raise InvalidInput([("message", "an outbound conversation starts with an agent's words")])
    if body.direction == "inbound" and body.agent_id is not None:
        raise InvalidInput([("agent_id", "only an outbound conversation is started for an agent")])
    if body.agent_id is not None and body.agent_id not in core.directory.agents:
        raise InvalidInput([("agent_id", f"unknown agent {body.agent_id}")])
    contact = body.contact.checked()
    address = body.interaction_id or contact["email"].lower()
    fields = {k: clean_name(v) for k, v in body.fields.items()} | contact
    # One start at a time per contact, as the widget's and an agent's: six at once made
    # five open outbound conversations (a second is 409) and two inbound ones. Two
    # nodes at once: the store's one-live index, and start() carries on with the winner.
    # Outbound, one open per contact whatever the interaction id: one start at a time
    # per email too (the key is no address: an interaction id has no "@" nor space), so
    # the second finds the first before it touches the contact; two nodes at once: the
    # store's create_outbound_conversation.
    async with contextlib.AsyncExitStack() as held:
        if body.direction == "outbound":
            outbound_to = f"outbound to {contact['email'].lower()}"
            await held.enter_async_context(
                core.conversations.one_at_a_time(ctx.touchpoint.id, outbound_to)
            )
        await held.enter_async_context(core.conversations.one_at_a_time(ctx.touchpoint.id, address))
        conv, _ = await core.conversations.start(
            ctx.touchpoint.id,
            address,
            {k: v for k, v in fields.items() if v},
            # Identified by the email alone (the contact with it is theirs): the phone,
            # which the integration does not prove, stays in the conversation's fields
            # for an agent to confirm, as a form's does; it never picks or renames one.
            identity=Identity(email=contact["email"], name=contact.get("name", "")),
            subject=body.subject,
            direction=body.direction,
            agent_id=body.agent_id,
            one_per_contact=True,
        )
    if conv.fields.get("email", "").lower() != contact["email"].lower():
        # The interaction id names another contact's open conversation: their words must
        # not be stored as this contact's (nor this one's as theirs). Nothing was stored.
        raise Conflict(
            "this interaction_id belongs to another contact's open conversation",
            code="interaction_in_use",
            field="interaction_id",
        )
    # The transcript is the conversation's first context only: a start that found the
    # conversation (a retry, another node's start at the same moment) adds nothing.
    kept = bool(body.transcript) and await core.bots.add_context(conv, body.transcript, first=True)
    if kept and body.message is None:  # an escalation: the transcript is what to answer
        conv = await core.conversations.route(conv)
    if body.message is not None:
        conv, _, _ = await core.conversations.receive(
            InboundMessage(
                touchpoint_id=ctx.touchpoint.id,
                address=address,
                provider_message_id=f"start:{_message_id(ctx, None)}",
                body=body.message,
            )
        )
    return await _answer(ctx, await core.conversations.get(conv.id), 201)


async def get_conversation(ctx: ApiCtx) -> Response:
    return await _answer(ctx, await _conversation(ctx))


async def list_messages(ctx: ApiCtx) -> Response:
    query: MessagesQuery = ctx.query
    conv = await _conversation(ctx)
    rows = await ctx.core.conversations.messages(conv, query.after_seq, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    page = MessagePage(
        items=[await _message(ctx, conv, m) for m in rows],
        next_after_seq=rows[-1].seq if rows else query.after_seq,
        has_more=more,
    )
    return json_response(page)


async def post_message(ctx: ApiCtx) -> Response:
    body: MessageIn = ctx.body
    conv = await _conversation(ctx)
    client_id = _message_id(ctx, body.message_id)
    if not body.text and not body.attachments:
        raise InvalidInput([("text", "a message needs a text or attachments")])
    if body.sender == "bot":
        if body.attachments:
            raise InvalidInput([("attachments", "a bot's messages carry text only")])
        msg, _ = await ctx.core.bots.send(conv, ctx.touchpoint.id, client_id, body.text)
    else:
        _own(ctx, conv)
        msg, _ = await ctx.core.conversations.write(conv, client_id, body.text, body.attachments)
    # the same answer for a message stored before (its message_id): what is stored
    return json_response(await _message(ctx, conv, msg), 201)


async def upload(ctx: ApiCtx) -> Response:
    """The contact's file, for their next message (its id goes in ``attachments``)."""
    query: UploadQuery = ctx.query
    conv = await _conversation(ctx)
    _own(ctx, conv)
    assert ctx.chunks is not None
    a = await ctx.core.conversations.contact_upload(
        conv, query.name, ctx.chunks, declared_size(ctx.request)
    )
    return uploaded(a)


async def escalate(ctx: ApiCtx) -> Response:
    body: EscalateIn = ctx.body
    conv = await _conversation(ctx)
    if body.queue_id is not None and body.queue_id not in ctx.core.directory.queues:
        raise InvalidInput([("queue_id", f"unknown queue {body.queue_id}")])
    if conv.state == "bot" and conv.bot_id == ctx.touchpoint.id:
        conv = await ctx.core.bots.hand_over(
            conv, "escalated", transcript=body.transcript, to_queue_id=body.queue_id
        )
    elif conv.touchpoint_id == ctx.touchpoint.id and conv.state not in ("wrapup", "closed"):
        # already with the agents (or on its way): the transcript is added as context
        if body.queue_id is not None:
            raise Conflict(
                "no bot holds the conversation: transfer it instead", code="not_with_bot"
            )
        await ctx.core.bots.add_context(conv, body.transcript)
    else:
        raise Conflict(
            "the conversation has ended, or this bot no longer holds it", code="not_with_bot"
        )
    return await _answer(ctx, conv)


async def transfer(ctx: ApiCtx) -> Response:
    body: TransferIn = ctx.body
    core = ctx.core
    if (body.agent_id is None) == (body.queue_id is None):
        raise InvalidInput([("", "transfer to an agent (agent_id) or to a queue (queue_id)")])
    if body.agent_id is not None and body.agent_id not in core.directory.agents:
        raise InvalidInput([("agent_id", f"unknown agent {body.agent_id}")])
    if body.queue_id is not None and body.queue_id not in core.directory.queues:
        raise InvalidInput([("queue_id", f"unknown queue {body.queue_id}")])
    conv = await _conversation(ctx)
    if not (conv.state == "bot" and conv.bot_id == ctx.touchpoint.id):
        _own(ctx, conv)
    conv = await core.conversations.transfer(
        conv, to_agent_id=body.agent_id, to_queue_id=body.queue_id
    )
    return await _answer(ctx, conv)


async def close(ctx: ApiCtx) -> Response:
    conv = await _conversation(ctx)
    if not (conv.state == "bot" and conv.bot_id == ctx.touchpoint.id):
        _own(ctx, conv)
    if conv.state in ("wrapup", "closed"):
        return await _answer(ctx, conv)  # closing what has ended changes nothing
    await ctx.core.endings.end(conv, "contact")
    return await _answer(ctx, await ctx.core.conversations.get(conv.id))


_POST = " Takes an Idempotency-Key: a replay gets the first answer (Idempotent-Replayed: true)."

# fmt: off
ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", BASE, "Start an inbound or an outbound conversation", "integration",
             start, tag="integration", body=StartIn, response=ConversationOut, status=201,
             errors=(409,),
             description="Inbound: the contact writes first (message) and the touchpoint's "
             "routing places it (a flow may hand it to a bot). Outbound: the company's side "
             "starts it, for an agent (agent_id) or routed; one open outbound conversation "
             "per contact on the touchpoint, whatever its interaction_id: another start "
             "while it is open, with this interaction_id or another, is 409 "
             "conversation_open and stores nothing. Inbound: the same interaction_id (or, "
             "without one, the same contact) gives the open conversation back; an "
             "interaction_id of another contact's open conversation is 409 "
             "interaction_in_use." + _POST),
    Endpoint("GET", ONE, "A conversation", "integration", get_conversation, tag="integration",
             response=ConversationOut),
    Endpoint("GET", ONE + "/messages", "A conversation's messages", "integration",
             list_messages, tag="integration", query=MessagesQuery, response=MessagePage,
             description="Up to limit messages after after_seq, ascending; for the next "
             "page pass next_after_seq."),
    Endpoint("POST", ONE + "/messages", "Write in a conversation", "integration",
             post_message, tag="integration", body=MessageIn, response=MessageOut,
             status=201, errors=(409,),
             description="As the contact (sender contact, the conversation's own "
             "touchpoint), or as the bot holding it (sender bot). The same message_id "
             "stores nothing twice (the answer is the message stored first)." + _POST),
    Endpoint("POST", ONE + "/attachments", "Upload the contact's file", "integration",
             upload, tag="integration", query=UploadQuery,
             raw_body="application/octet-stream", response=UploadOut, status=201,
             errors=(409, 413, 415, 429),
             description="The body is the file's bytes (not JSON), streamed: its type is "
             "found in the content and checked against the integration channel's rule "
             "(docs/attachments.md); 413 past the rule's size, 415 a type it does not take, "
             "429 too_many_uploads while two messages' worth of the contact's files here "
             "are not sent yet. "
             "Pass the answer's attachment.id in a message's attachments. A signature covers "
             "the bytes like any body." + _POST),
    Endpoint("POST", ONE + "/escalate", "Escalate to the agents, with the transcript",
             "integration", escalate, tag="integration", body=EscalateIn,
             response=ConversationOut, errors=(409,),
             description="The bot holding the conversation hands it over (to its queues "
             "or queue_id); it waits for an agent from now. The transcript is shown to the "
             "agent as context, not as messages. On a conversation already with the "
             "agents, the transcript is added as context." + _POST),
    Endpoint("POST", ONE + "/transfer", "Transfer to an agent or a queue", "integration",
             transfer, tag="integration", body=TransferIn, response=ConversationOut,
             errors=(409,),
             description="From the bot holding it, or from the agent holding it. A "
             "conversation waiting for an agent cannot be transferred (409)." + _POST),
    Endpoint("POST", ONE + "/close", "Close from the contact's side", "integration", close,
             tag="integration", response=ConversationOut, errors=(409,),
             description="Waiting or with a bot, it closes; held by an agent, it ends and "
             "the agent wraps it up. Closing an ended conversation changes nothing." + _POST),
]
# fmt: on
