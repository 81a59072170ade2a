"""What every provider's webhook endpoint does first: find the touchpoint the URL names,
read a bounded body, and know the URL the provider signed. The signature itself is the
provider's (channels/sms/twilio.py, channels/meta/signature.py), always checked before
the body is decoded further, in constant time.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.requests import Request

from channels.base import Core
from gateway.aio import KeyedLocks
from gateway.errors import Forbidden, FrameTooLarge, InvalidInput, NotFound, Unavailable
from gateway.model.channels import ChannelName, channel
from gateway.model.inbound import InboundMessage
from gateway.model.records import Conversation, Touchpoint
from gateway.services.directory import Directory
from gateway.settings import Settings

log = logging.getLogger("gateway.channels")


def touchpoint_of(directory: Directory, request: Request, channel: ChannelName) -> Touchpoint:
    """The touchpoint the URL names; NotFound (404) for an unknown one or one of another
    channel (an inactive one is refused later, by the conversation service: 403)."""
    tp = directory.touchpoints.get(str(request.path_params["touchpoint_id"]))
    if tp is None or tp.channel != channel:
        raise NotFound("no such touchpoint")
    return tp


async def read_body(request: Request, settings: Settings) -> bytes:
    """The request body, or FrameTooLarge (413) past GATEWAY_MAX_WEBHOOK_BODY_BYTES (the
    declared length is checked first; the stream is counted either way). Providers'
    webhooks carry a message and its metadata, media come by URL; Meta documents
    payloads of up to 3 MB (a batch of events), Twilio's are a few KB."""
    limit = settings.max_webhook_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FrameTooLarge(f"a webhook body is at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FrameTooLarge(f"a webhook body is at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def base_url(settings: Settings) -> str:
    """Where providers reach this gateway: GATEWAY_PUBLIC_URL, else host and port."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def signed_url(settings: Settings, request: Request) -> str:
    """The URL the provider called, as it signed it: the public URL's origin (behind a
    proxy the gateway's own URL differs) with the request's path and query."""
    if not settings.public_url:
        return str(request.url)
    query = request.url.query
    return base_url(settings) + request.url.path + (f"?{query}" if query else "")


# How long a delivery's claim on a provider's message id holds off the other deliveries
# of the same id while it stores the message (on any node; the claim is the store's
# ``idempotency_keys`` row, scope ``inbound:<touchpoint id>``). A node that dies holding
# one delays that message's retries by at most this long; the reference it leaves once
# stored is what answers them later.
CLAIM_SECONDS = 300.0

# The deliveries of one provider message id being handled on this node, one at a time.
_delivering: KeyedLocks[tuple[str, str]] = KeyedLocks()


# What InboundMessage declares (gateway/model/inbound.py), which a struct built in code
# does not check: a provider's id for a message and its text.
MAX_PROVIDER_ID = 200
MAX_TEXT = 100_000


def _check(msg: InboundMessage) -> None:
    """InvalidInput (422) for a message no provider sends: an id that is empty, longer
    than MAX_PROVIDER_ID or not printable ASCII (the database keeps it, and a NUL is
    refused by PostgreSQL: a 500), or a text over MAX_TEXT characters (the providers'
    own limits are a few thousand)."""
    ref = msg.provider_message_id
    if not 0 < len(ref) <= MAX_PROVIDER_ID or not (ref.isascii() and ref.isprintable()):
        raise InvalidInput(
            [("id", f"a provider's message id: 1 to {MAX_PROVIDER_ID} printable ASCII characters")]
        )
    if len(msg.body) > MAX_TEXT:
        raise InvalidInput([("body", f"a message's text is at most {MAX_TEXT} characters")])


async def _stored(core: Core, msg: InboundMessage) -> tuple[Conversation, bool] | None:
    ref = await core.state.find_ref(msg.touchpoint_id, [msg.provider_message_id])
    if ref is None:
        return None
    return await core.conversations.get(ref.conversation_id), False


async def receive_once(
    core: Core, msg: InboundMessage, *, start: bool = True
) -> tuple[Conversation, bool] | None:
    """The contact's message stored once per provider message id and touchpoint: the
    conversation holding it, and whether it was stored now. The conversation service
    drops a retry only within one conversation; a provider's retry that comes after
    the agent ended it would start another, so each message's id is kept as a
    reference of its touchpoint (``core.state``, as email keeps its Message-IDs) and a
    retry finds where the first delivery went. ``start=False``: the message may only
    continue the contact's open conversation (None when there is none: nothing stored).

    Two deliveries of one id at once (a provider's retry racing the first, each on a
    node of its own) would both miss the reference and both store the message: the
    first to claim the id in the store (an atomic insert on a unique key) stores it;
    on this node the others wait for it and then find its reference, on another node
    they are refused with Unavailable (503), which the provider retries."""
    _check(msg)
    async with _delivering.hold((msg.touchpoint_id, msg.provider_message_id)):
        found = await _stored(core, msg)
        if found is not None:
            return found
        if not await claim(core, msg.touchpoint_id, msg.provider_message_id):
            found = await _stored(core, msg)  # stored meanwhile, or being stored
            if found is not None:
                return found
            raise InboundInProgress()
        try:
            received = await _receive(core, msg, start)
        except BaseException:
            await release(core, msg.touchpoint_id, msg.provider_message_id)
            raise
        if received is None:
            await release(core, msg.touchpoint_id, msg.provider_message_id)
        return received


class InboundInProgress(Unavailable):
    """Another delivery of this message (on another node) is storing it now; a retry
    finds it stored."""

    code = "inbound_in_progress"


async def claim(core: Core, touchpoint_id: str, ref: str) -> bool:
    """Whether this delivery now holds the provider's message ``ref`` (an atomic insert
    on the store's ``idempotency_keys``): False while another, on any node, holds it
    (for CLAIM_SECONDS at most) or once it was stored. The email channel claims its
    Message-IDs the same way (channels/email/inbound.py)."""
    return not await core.idempotency.remember(f"inbound:{touchpoint_id}", ref, CLAIM_SECONDS)


async def release(core: Core, touchpoint_id: str, ref: str) -> None:
    """Give a claim up: nothing was stored, a retry may try again at once."""
    await core.idempotency.release(f"inbound:{touchpoint_id}", ref)


async def _receive(
    core: Core, msg: InboundMessage, start: bool
) -> tuple[Conversation, bool] | None:
    if not start:
        open_conv = await core.conversations.open_for(msg.touchpoint_id, msg.address)
        if open_conv is None:
            return None
        # threaded into it: not a new conversation, whatever the touchpoint's direction
        msg = msgspec.structs.replace(msg, conversation_id=open_conv.id)
    conv, message, created = await core.conversations.receive(msg)
    await core.state.remember(msg.touchpoint_id, msg.provider_message_id, conv.id, message.seq)
    return conv, created


async def receive_by_direction(
    core: Core, tp: Touchpoint, msg: InboundMessage, *, notify: bool = True
) -> tuple[Conversation, bool] | None:
    """:func:`receive_once` as the touchpoint's direction allows: on an outbound-only
    touchpoint a contact's message only continues their open conversation. One that
    would start a conversation is not taken (None; the webhook is answered 2xx all the
    same: the provider would only retry the same refusal); the admins are told, with
    ``notify`` (docs/channels.md, "Texts an outbound-only touchpoint does not take")."""
    outbound_only = tp.active and tp.direction == "outbound"
    try:
        received = await receive_once(core, msg, start=not outbound_only)
    except Forbidden:
        if not outbound_only:
            raise
        received = None  # the open conversation ended meanwhile
    if received is None:
        log.warning(
            "%s message to outbound-only touchpoint %s, with no conversation open: not stored",
            channel(tp.channel).label,
            tp.id,
        )
        if notify:
            await not_taken(core, tp, msg.address)
    return received


async def not_taken(core: Core, tp: Touchpoint, address: str) -> None:
    """The admins' notice of a contact's message an outbound-only touchpoint did not
    take (nothing stored, nothing sent back): what only an admin can change. It names
    the contact's last conversation on the touchpoint, never their address."""
    last = await core.conversations.latest_for(tp.id, address)
    number = str(tp.settings.get("number", ""))
    await core.notices.notify(
        "sending_refused",
        f"{channel(tp.channel).label} touchpoint {tp.name}{f' ({number})' if number else ''}"
        " is outbound-only: a contact's message that would have started a conversation was"
        " not taken, and the contact was not answered. Set the touchpoint's direction to"
        " both to take such messages.",
        touchpoint_id=tp.id,
        conversation_id=last.id if last else "",
    )
