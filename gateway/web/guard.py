"""The ASGI middleware in front of every HTTP route (docs/security.md):

* **body limits while streaming**: a request whose ``Content-Length`` is over the limit
  is answered ``413 too_large`` before a byte of its body is read; a body without one
  (chunked) is counted as it arrives and refused the moment it passes the limit. The
  authenticated APIs (``/api/admin/``, an agent's ``/api/conversations[/...]``: an email
  can be long) take ``GATEWAY_MAX_BODY_BYTES``; providers'
  webhooks (``/webhooks/``) ``GATEWAY_MAX_WEBHOOK_BODY_BYTES`` (Meta documents payloads
  of up to 3 MB); the integration API (``/api/integrations/``, callers with an API key)
  ``GATEWAY_API_MAX_BODY_BYTES`` (channels/api/http.py checks it again, per touchpoint);
  the three file uploads (whose bytes stream into the attachment service, which counts
  them against the channel's rule) the largest file any channel's rule accepts; every
  other endpoint, the public ones first, ``GATEWAY_MAX_PUBLIC_BODY_BYTES``.
  The connection is closed after a 413 so the rest of the body is never read.
* **security headers on every response**: ``X-Content-Type-Options: nosniff`` always,
  and an HTML response that did not set its own ``Content-Security-Policy`` (a static
  file reached by another spelling of its path, say) gets the strictest one: nothing
  loads, nobody frames it.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BodyTooLarge
from gateway.settings import Settings
from gateway.web.errors import error_body

DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_ALWAYS = ((b"x-content-type-options", b"nosniff"),)
# The endpoints whose body is a file (channels/chat/uploads.py, gateway/web/files.py,
# channels/api/endpoints.py).
_UPLOADS = re.compile(
    r"/widget/attachments|/api/conversations/[^/]+/attachments"
    r"|/api/integrations/[^/]+/conversations/[^/]+/attachments"
)


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings, upload_bytes: int) -> None:
        self.app = app
        self.settings = settings
        self.upload_bytes = upload_bytes

    def limit(self, path: str) -> int:
        if _UPLOADS.fullmatch(path):
            return self.upload_bytes
        if path == "/api/conversations" or path.startswith(("/api/admin/", "/api/conversations/")):
            return self.settings.max_body_bytes
        if path.startswith("/webhooks/"):
            return self.settings.max_webhook_body_bytes
        if path.startswith("/api/integrations/"):
            return self.settings.api_max_body_bytes
        return self.settings.max_public_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        too_large = BodyTooLarge(f"the request body is larger than {limit} bytes")
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, too_large)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise too_large
            return message

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in _ALWAYS if h[0] not in names]
                html = any(n.lower() == b"content-type" and b"text/html" in v for n, v in headers)
                if html and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DEFAULT_CSP))
                if refused:
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        # the client left, or the request timeout cut its body short (a slowloris):
        # nobody is left to answer, and it is not the app's error to log
        with contextlib.suppress(ClientDisconnect):
            await self.app(scope, counted, with_headers)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, exc: BodyTooLarge) -> None:
    body = msgspec.json.encode(error_body(exc.code, exc.public_message))
    headers: list[tuple[bytes, Any]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
        *_ALWAYS,
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
