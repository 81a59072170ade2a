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
  so that no browser renders them from the gateway's origin. One byte range
  (``Range: bytes=...``) is answered 206 with only those bytes, 416 past the end.
  ``HEAD`` answers the same headers from the blob store's metadata, no byte read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar
from urllib.parse import quote

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway import protocol as p
from gateway.errors import (
    FileTypeRefused,
    InvalidInput,
    NotFound,
    ProtocolError,
    TokenInvalid,
)
from gateway.model.records import Attachment
from gateway.ports.blobs import ByteRange, RangeNotSatisfiable
from gateway.services.file_check import MAX_NAME_BYTES, refuse_name
from gateway.web.context import web_of
from gateway.web.login import authenticate
from gateway.web.openapi import Endpoint

NEVER_RENDERED = {"text/html", "image/svg+xml", "message/rfc822"}
CSP = "default-src 'none'; img-src 'self'; media-src 'self'; frame-ancestors 'none'; sandbox"


# What the OpenAPI document allows of a name (1,000 characters, percent-encoded, stay
# within the request line's limit); longer is refused as the service refuses a name of
# more than 255 bytes (upload_query): file_name_invalid, not a generic "invalid".
NAME_MAX_CHARS = 1000
Q = TypeVar("Q", bound=msgspec.Struct)


class UploadQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX_CHARS)]


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
    """The Content-Length the client claims (checked again while the bytes arrive).

    The body must be the file's bytes, whatever its Content-Type (the type is found in
    the content), but not a form: a ``multipart/form-data`` body was stored as it came,
    its boundaries and part headers inside the file (a text file kept them, anything
    else was refused as a type the gateway does not know). 415 ``upload_not_raw``."""
    if request.headers.get("content-type", "").lower().lstrip().startswith("multipart/"):
        raise FileTypeRefused(
            "the body is a multipart form: send the file's bytes alone as the body "
            "(the name goes in ?name=)",
            code="upload_not_raw",
        )
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput([("Content-Length", "not a number of bytes")])
    return int(raw)


def upload_query(request: Request, type_: type[Q]) -> Q:
    """An upload's query string, its refusals as the client can act on: a name missing
    or empty, or past NAME_MAX_CHARS (file_name_invalid, as the service refuses one of
    more than MAX_NAME_BYTES), checked before the struct, whose error would read only
    "invalid"; anything else names the query."""
    params = dict(request.query_params)
    name = params.get("name", "")
    if not name:
        raise InvalidInput([("name", "the file's name is required (?name=...)")])
    if len(name) > NAME_MAX_CHARS:
        raise refuse_name(f"is longer than {MAX_NAME_BYTES} bytes")
    try:
        return msgspec.convert(params, type_)
    except msgspec.ValidationError as exc:
        raise InvalidInput([("query", str(exc))]) from None


def upload_name(request: Request) -> str:
    return upload_query(request, UploadQuery).name


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
    """GET (or HEAD) of a signed link. HEAD answers the same status and headers from the
    blob store's metadata, reading no byte (it read the whole blob, on S3 a GetObject of
    all of it, to throw it away); like any method but GET it ignores Range (RFC 9110,
    14.2), so it describes the whole file."""
    web = web_of(request)
    attachment_id, variant, conversation_id, expires = await _allowed(request)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": f"private, max-age={max(0, int(expires - web.clock()))}",
        "Accept-Ranges": "bytes",
    }
    files = web.attachments
    if request.method == "HEAD":
        d = await files.describe_download(attachment_id, variant, conversation_id)
    else:
        try:
            d = await files.open_download(
                attachment_id, variant, conversation_id, requested_range(request)
            )
        except RangeNotSatisfiable as exc:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{exc.total}"}
            )
    inline = d.inline and "dl" not in request.query_params
    media = d.content_type
    if media in NEVER_RENDERED:
        media = "application/octet-stream"
    elif media.startswith("text/"):
        media += "; charset=utf-8"
    headers["Content-Length"] = str(d.blob.size)
    headers["Content-Disposition"] = disposition("inline" if inline else "attachment", d.name)
    status = 200
    if d.blob.total is not None:  # one range of it
        status = 206
        last = d.blob.start + d.blob.size - 1
        headers["Content-Range"] = f"bytes {d.blob.start}-{last}/{d.blob.total}"
    if request.method == "HEAD":
        return Response(status_code=status, media_type=media, headers=headers)
    return StreamingResponse(d.blob.chunks, status_code=status, media_type=media, headers=headers)


async def _allowed(request: Request) -> tuple[str, str, str, int]:
    """The link's file, variant, conversation and expiry, once its signature holds and
    its reader may still fetch it: TokenInvalid / TokenExpired, NotFound otherwise."""
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
    web.attachments.verify_link(
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
    return attachment_id, variant, conversation_id, expires


_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


def requested_range(request: Request) -> ByteRange | None:
    """The one byte range a download asks for (RFC 9110, 14.2): a resumed download, a
    player seeking. None (the whole file) for none, for several ranges (rare, and a
    multipart answer for little use), for one that does not parse, and with If-Range
    (the file's validator is not sent, so no condition can be known to hold)."""
    raw = request.headers.get("range")
    if raw is None or "if-range" in request.headers:
        return None
    found = _RANGE.fullmatch(raw.strip().replace(" ", ""))
    if not found or not (found[1] or found[2]):
        return None
    first = int(found[1]) if found[1] else None
    last = int(found[2]) if found[2] else None
    if first is not None and last is not None and last < first:
        return None  # invalid: ignored, the whole file
    return ByteRange(first, last)


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
    errors=(403, 404, 409, 413, 415, 429, 503),
    description="The body is the file's bytes (any Content-Type: the type is found in "
    "the content; not a multipart form: 415 upload_not_raw). Only the agent the "
    "conversation is assigned to. 429 too_many_uploads while two messages' worth of "
    "your files here are not sent yet. Refused with 413 "
    "file_too_large past the channel's limit (counted as the bytes arrive), 415 "
    "file_type_refused / file_type_mismatch / file_polyglot, 422 file_empty, "
    "file_name_invalid, file_damaged, image_too_large; 503 storage_unavailable or "
    "storage_full. Send it with the `attachments` of a `send` frame "
    "(docs/attachments.md).",
)


def routes() -> list[BaseRoute]:
    return [Route("/files/{attachment_id}", download, methods=["GET", "HEAD"])]


def api_routes() -> list[BaseRoute]:
    return [Route("/conversations/{id}/attachments", agent_upload, methods=["POST"])]
