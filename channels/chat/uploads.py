"""``POST /widget/attachments?name=...``: a visitor's file, for their next message.

Authorised like the visitor socket: ``Authorization: Bearer <visitor token>`` from the
bootstrap, sent from the Origin the token was issued to, for an active chat touchpoint
(with the signed identity it requires). The file goes to the visitor's open
conversation (or the one named by ``conversation_id``, if it is theirs and live); its
bytes stream into the attachment service, which counts them against the chat rule as
they arrive. See docs/attachments.md.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from channels.chat.bootstrap import admitted_touchpoint
from gateway.errors import AuthError, NotFound
from gateway.web.context import web_of
from gateway.web.files import (
    NAME_MAX_CHARS,
    UploadOut,
    body_chunks,
    declared_size,
    upload_query,
    uploaded,
)
from gateway.web.openapi import Endpoint
from gateway.web.origins import self_origins


class VisitorUploadQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX_CHARS)]
    conversation_id: str = ""


async def visitor_upload(request: Request) -> Response:
    web = web_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("send Authorization: Bearer <visitor token>")
    claims = web.tokens.verify_visitor(token.strip())
    origin = request.headers.get("origin", "")
    tp = admitted_touchpoint(web.directory.touchpoints, claims, origin, self_origins(request))
    query = upload_query(request, VisitorUploadQuery)
    size = declared_size(request)
    conversations = web.conversations
    if query.conversation_id:
        conv = await conversations.of_contact(tp.id, claims.vid, query.conversation_id)
    else:
        found = await conversations.open_for(tp.id, claims.vid)
        if found is None:
            raise NotFound("start a conversation first", code="no_conversation")
        conv = found
    a = await conversations.contact_upload(conv, query.name, body_chunks(request), size)
    return uploaded(a)


UPLOAD = Endpoint(
    "POST",
    "/widget/attachments",
    "A visitor's file, for their next message",
    "public",
    tag="widget",
    query=VisitorUploadQuery,
    raw_body="application/octet-stream",
    response=UploadOut,
    status=201,
    errors=(401, 403, 404, 409, 413, 415, 429, 503),
    description="Authorization: Bearer <visitor token>, from the Origin the token was "
    "issued to. The body is the file's bytes; the type is found in the content and "
    "checked against the chat rule (GATEWAY_CHAT_ATTACHMENT_TYPES, "
    "GATEWAY_CHAT_ATTACHMENT_MAX_BYTES). 404 no_conversation without an open "
    "conversation; 429 too_many_uploads while two messages' worth of the visitor's files "
    "are not sent yet; the refusals of the agents' upload otherwise (docs/attachments.md).",
)
