"""What every provider's webhook endpoint does first: find the touchpoint the URL names,
read a bounded body, and know the URL the provider signed. The signature itself is the
provider's (channels/sms/twilio.py, channels/meta/signature.py), always checked before
the body is decoded further, in constant time.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request

from channels.base import Core
from gateway.errors import FrameTooLarge, NotFound
from gateway.model.channels import ChannelName
from gateway.model.inbound import InboundMessage
from gateway.model.records import Conversation, Touchpoint
from gateway.services.directory import Directory
from gateway.settings import Settings


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
    """
    ref = await core.state.find_ref(msg.touchpoint_id, [msg.provider_message_id])
    if ref is not None:
        return await core.conversations.get(ref.conversation_id), False
    if not start:
        open_conv = await core.conversations.open_for(msg.touchpoint_id, msg.address)
        if open_conv is None:
            return None
        # threaded into it: not a new conversation, whatever the touchpoint's direction
        msg = msgspec.structs.replace(msg, conversation_id=open_conv.id)
    conv, message, created = await core.conversations.receive(msg)
    await core.state.remember(msg.touchpoint_id, msg.provider_message_id, conv.id, message.seq)
    return conv, created
