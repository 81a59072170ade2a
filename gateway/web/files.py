"""Files over HTTP: an agent's upload, and every download.

* ``POST /api/conversations/{id}/attachments?name=...`` (agent bearer token): the
  request's body is the file, streamed (never read whole) into the attachment service,
  which refuses it as soon as it passes the channel's limit; only the agent the
  conversation is assigned to may upload (gateway/services/access.py). The visitor's
  upload is the chat channel's (channels/chat/uploads.py).
* ``GET /files/{attachment id}?v&c&r&e&s``: a signed link (``links`` frames give them),
  bound to the file, the conversation and the reader, short-lived. An agent reader must
  still be allowed to read the conversation when it is fetched. Responses carry
  ``X-Content-Type-Options: nosniff`` and a sandboxing CSP; only raster images are
  ever ``inline`` (and only when ``dl`` is absent), everything else is an
  ``attachment``; HTML, SVG and email files are sent as ``application/octet-stream``
  so that no browser renders them from the gateway's origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway import protocol as p
from gateway.errors import InvalidInput, NotFound, ProtocolError, TokenInvalid
from gateway.model.records import Attachment
from gateway.web.context import web_of
from gateway.web.login import authenticate
from gateway.web.openapi import Endpoint

NEVER_RENDERED = {"text/html", "image/svg+xml", "message/rfc822"}
CSP = "default-src 'none'; img-src 'self'; media-src 'self'; frame-ancestors 'none'; sandbox"


class UploadQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class UploadOut(msgspec.Struct, kw_only=True):
    attachment: p.AttachmentOut


def attachment_out(a: Attachment) -> p.AttachmentOut:
    return p.AttachmentOut(
        id=a.id,
        name=a.name,
        content_type=a.content_type,
        size=a.size,
        width=a.width,
        height=a.height,
        thumbnail=bool(a.thumb_key),
    )


def declared_size(request: Request) -> int | None:
    """The Content-Length the client claims (checked again while the bytes arrive)."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput([("Content-Length", "not a number of bytes")])
    return int(raw)


def upload_name(request: Request) -> str:
    try:
        query = msgspec.convert(dict(request.query_params), UploadQuery)
    except msgspec.ValidationError as exc:
        raise InvalidInput([("name", f"the file's name is required: {exc}")]) from None
    return query.name


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request's body as it arrives; a client gone away is a clear 400."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise ProtocolError(
            "the upload was interrupted: nothing was stored", code="upload_incomplete"
        ) from None


def uploaded(a: Attachment) -> Response:
    return Response(
        msgspec.json.encode(UploadOut(attachment=attachment_out(a))),
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def agent_upload(request: Request) -> Response:
    _, agent = await authenticate(request)
    name = upload_name(request)
    size = declared_size(request)
    web = web_of(request)
    a = await web.desk.upload(agent, request.path_params["id"], name, body_chunks(request), size)
    return uploaded(a)


def disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: Request) -> Response:
    web = web_of(request)
    q = request.query_params
    attachment_id = request.path_params["attachment_id"]
    variant, conversation_id, reader = q.get("v", ""), q.get("c", ""), q.get("r", "")
    try:
        expires = int(q.get("e", ""))
    except ValueError:
        raise TokenInvalid("this link is not valid") from None
    if variant not in ("file", "thumb"):
        raise TokenInvalid("this link is not valid")
    files = web.attachments
    files.verify_link(
        attachment_id,
        variant=variant,
        conversation_id=conversation_id,
        reader=reader,
        expires=expires,
        signature=q.get("s", ""),
    )
    # The link is ours and fresh; is its reader still allowed?
    kind, _, who = reader.partition(":")
    if kind == "a":
        await web.desk.readable(web.agents.agent(who), conversation_id)
    elif kind == "p":
        # a provider fetching a file of a message it is delivering: the signed link,
        # made for this file, conversation and provider, is the whole credential
        if (await web.conversations.get(conversation_id)).channel != who:
            raise NotFound("no such file")
    elif kind != "c" or (await web.conversations.get(conversation_id)).address != who:
        raise NotFound("no such file")
    d = await files.open_download(attachment_id, variant, conversation_id)
    inline = d.inline and "dl" not in q
    media = d.content_type
    if media in NEVER_RENDERED:
        media = "application/octet-stream"
    elif media.startswith("text/"):
        media += "; charset=utf-8"
    name = d.attachment.name if variant == "file" else f"thumbnail-{d.attachment.name}.jpg"
    return StreamingResponse(
        d.blob.chunks,
        media_type=media,
        headers={
            "Content-Length": str(d.blob.size),
            "Content-Disposition": disposition("inline" if inline else "attachment", name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP,
            "Cross-Origin-Resource-Policy": "same-origin",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": f"private, max-age={max(0, int(expires - web.clock()))}",
        },
    )


AGENT_UPLOAD = Endpoint(
    "POST",
    "/api/conversations/{id}/attachments",
    "Upload a file for your reply",
    "agent",
    tag="agents",
    query=UploadQuery,
    raw_body="application/octet-stream",
    response=UploadOut,
    status=201,
    errors=(403, 404, 409, 413, 415, 503),
    description="The body is the file's bytes (any Content-Type: the type is found in "
    "the content). Only the agent the conversation is assigned to. Refused with 413 "
    "file_too_large past the channel's limit (counted as the bytes arrive), 415 "
    "file_type_refused / file_type_mismatch / file_polyglot, 422 file_empty, "
    "file_name_invalid, file_damaged, image_too_large; 503 storage_unavailable or "
    "storage_full. Send it with the `attachments` of a `send` frame "
    "(docs/attachments.md).",
)


def routes() -> list[BaseRoute]:
    return [Route("/files/{attachment_id}", download, methods=["GET"])]


def api_routes() -> list[BaseRoute]:
    return [Route("/conversations/{id}/attachments", agent_upload, methods=["POST"])]
