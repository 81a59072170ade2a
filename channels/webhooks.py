"""What every provider's webhook endpoint does first: find the touchpoint the URL names,
read a bounded body, and know the URL the provider signed. The signature itself is the
provider's (channels/sms/twilio.py, channels/meta/signature.py), always checked before
the body is decoded further, in constant time.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.errors import FrameTooLarge, NotFound
from gateway.model.channels import ChannelName
from gateway.model.records import Touchpoint
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
