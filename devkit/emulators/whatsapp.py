"""Meta's WhatsApp Business Cloud API, as much as the gateway uses
(channels/whatsapp).

* ``POST /{version}/{phone-number-id}/messages`` with ``Authorization: Bearer
  <token>`` and ``{"messaging_product": "whatsapp", "to": wa_id, "type": "text",
  "text": {"body": ...}}``: 200 ``{"messaging_product", "contacts", "messages":
  [{"id": "wamid..."}]}``, then status webhooks: ``sent``, ``delivered`` (``read``
  when the phone reads), or ``failed`` with error 131047 (re-engagement: more than 24
  hours since the customer last wrote). Refusals as the Graph API answers them: 401
  code 190 (token), 400 code 100 (invalid parameter).
* Media: a contact's medium arrives as ``{"type": "image", "image": {"id", "mime_type",
  "sha256", "caption"}}``; ``GET /{version}/{media-id}`` (bearer token) answers its
  short-lived ``url``, which serves the bytes to the same bearer token only (401
  without). A send of type image, audio, video, document or sticker gives a ``link``
  that is fetched, as Meta does, and checked against the documented types and sizes
  (images JPEG/PNG 5 MB, stickers WebP 500 KB, audio and video 16 MB, documents 100 MB;
  a caption at most 1,024 characters, else 400 code 100): a link that does not answer
  200, a type or size outside these, fails the message with error 131053 (media upload
  error) in its status webhook.
* Webhooks: ``{"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes":
  [{"field": "messages", "value": {...}}]}]}`` signed with ``X-Hub-Signature-256``.

Control: ``configure`` numbers, ``phone/send`` (a contact writes: text, or another
type), ``phone/read``, ``phone/{wa_id}/inbox``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devkit.emulators.base import json_body
from devkit.emulators.media import MediaStore, Medium, fetch
from devkit.emulators.meta import MetaEmulator, graph_error, signed

MB = 1024 * 1024
# The Cloud API's supported media: type -> (message types, largest size).
MEDIA_TYPES: dict[str, tuple[tuple[str, ...], int]] = {
    "image/jpeg": (("image",), 5 * MB),
    "image/png": (("image",), 5 * MB),
    "image/webp": (("sticker",), 500 * 1024),
    **{t: (("audio",), 16 * MB) for t in ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4",
                                           "audio/ogg")},
    **{t: (("video",), 16 * MB) for t in ("video/mp4", "video/3gpp")},
    **{t: (("document",), 100 * MB) for t in (
        "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation")},
}  # fmt: skip
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
MEDIA_ERROR = {
    "code": 131053,
    "title": "Media upload error",
    "message": "Media upload error",
    "error_data": {"details": "Unable to download the media from the link given."},
}

REENGAGEMENT = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the"
        " customer last replied to this number."
    },
}


class WhatsAppEmulator(MetaEmulator):
    name = "whatsapp"

    def __init__(self) -> None:
        super().__init__()
        # phone number id -> {"display_phone_number", "token", "app_secret", "webhook_url",
        # "waba_id"}
        self.numbers: dict[str, dict[str, str]] = {}
        self.media = MediaStore("")

    def forget_configuration(self) -> None:
        self.numbers.clear()

    def _token_ok(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return bool(token) and any(n["token"] == token for n in self.numbers.values())

    async def media_url(self, request: Request) -> Response:
        """``GET /{version}/{media-id}``: where a contact's medium can be downloaded."""
        if not self._token_ok(request):
            return graph_error(401, 190, "Error validating access token: The session is invalid.")
        media_id = request.path_params["media_id"]
        medium = self.media.items.get(media_id)
        if medium is None:
            return graph_error(
                400, 100, f"Unsupported get request. Object with ID '{media_id}' does not exist"
            )
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{base}/whatsapp_business/attachments/?mid={media_id}",
                "mime_type": medium.content_type,
                "sha256": medium.summary()["sha256"],
                "file_size": len(medium.data),
                "id": media_id,
            }
        )

    async def media_bytes(self, request: Request) -> Response:
        if not self._token_ok(request):
            return Response(status_code=401)
        medium = self.media.items.get(request.query_params.get("mid", ""))
        if medium is None:
            return Response(status_code=404)
        return Response(medium.data, media_type=medium.content_type)

    async def _check_media(self, kind: str, body: dict[str, Any]) -> tuple[Medium | None, bool]:
        """The medium a send links to, fetched; and whether it is acceptable."""
        link = str(body.get("link", ""))
        result = await fetch(self.http(), link, 100 * MB)
        medium = result.medium
        if medium is None:
            return None, False
        kinds, limit = MEDIA_TYPES.get(medium.content_type, ((), 0))
        return medium, kind in kinds and len(medium.data) <= limit

    def _envelope(self, pnid: str, value: dict[str, Any]) -> dict[str, Any]:
        number = self.numbers[pnid]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": number["display_phone_number"].lstrip("+"),
                "phone_number_id": pnid,
            },
            **value,
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": number.get("waba_id", "WABA1"),
                    "changes": [{"field": "messages", "value": value}],
                }
            ],
        }

    def _hook(self, kind: str, pnid: str, value: dict[str, Any]) -> int:
        number = self.numbers[pnid]
        payload = self._envelope(pnid, value)
        return self.post_later(
            kind, number["webhook_url"], lambda: signed(number["app_secret"], payload)
        ).id

    def _status(self, pnid: str, wamid: str, to: str, status: str, **extra: Any) -> None:
        # the send's biz_opaque_callback_data comes back in each of its statuses
        sent = next((m for m in self.sent if m.get("id") == wamid), {})
        if sent.get("biz_opaque_callback_data"):
            extra["biz_opaque_callback_data"] = sent["biz_opaque_callback_data"]
        self._hook(
            "status",
            pnid,
            {
                "statuses": [
                    {
                        "id": wamid,
                        "status": status,
                        "timestamp": str(int(time.time())),
                        "recipient_id": to,
                        **extra,
                    }
                ]
            },
        )

    async def send(self, request: Request) -> Response:
        pnid = request.path_params["pnid"]
        number = self.numbers.get(pnid)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if number is None or not token or token != number["token"]:
            return graph_error(401, 190, "Error validating access token: The session is invalid.")
        data = await json_body(request)
        record: dict[str, Any] = {"phone_number_id": pnid, **data}
        injected = self.failure()
        if injected is not None:
            record["refused"] = injected[0]
            await self.record(record)
            return JSONResponse(injected[1] or {"error": {"code": 2}}, status_code=injected[0])
        to = str(data.get("to", ""))
        kind = data.get("type", "text")
        if (
            data.get("messaging_product") != "whatsapp"
            or not to.isdigit()
            or (kind == "text" and not (data.get("text") or {}).get("body"))
        ):
            record["refused"] = 400
            await self.record(record)
            return graph_error(400, 100, "(#100) Invalid parameter")
        raw = data.get(kind)
        body: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind in MEDIA_KINDS and (
            not body.get("link") or len(str(body.get("caption", ""))) > 1024
        ):
            record["refused"] = 400
            await self.record(record)
            return graph_error(400, 100, "(#100) Invalid parameter")
        media_ok = True
        if kind in MEDIA_KINDS:
            medium, media_ok = await self._check_media(kind, body)
            record["media"] = self.kept(medium, str(body["link"])) if medium else None
        wamid = "wamid." + self.hex_id("", 40)
        record["id"] = wamid
        if not media_ok:
            record["error_code"] = 131053  # never reaches the phone
        await self.record(record)
        # outside the customer service window the message fails (asynchronously)
        if not media_ok:
            self._status(pnid, wamid, to, "failed", errors=[MEDIA_ERROR])
        elif not self.window_open(pnid, to, time.time()):
            self._status(pnid, wamid, to, "failed", errors=[REENGAGEMENT])
        else:
            self._status(pnid, wamid, to, "sent")
            self._status(pnid, wamid, to, "delivered")
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            }
        )

    def routes(self) -> list[BaseRoute]:
        async def configure(request: Request) -> Response:
            data = await json_body(request)
            self.numbers.update(data.get("numbers", {}))
            return JSONResponse({"numbers": list(self.numbers)})

        async def phone_send(request: Request) -> Response:
            """A contact (``from``: wa_id, ``name``) writes to a number (``phone_number_id``):
            ``body`` as text, ``media`` (``{"kind", "content_type", "data" (base64),
            "name", "caption"}``) as a medium kept for the gateway to download, or
            ``message`` as a whole message object of another type; ``timestamp`` for a
            message sent earlier."""
            data = await json_body(request)
            pnid, wa_id = str(data.get("phone_number_id", "")), str(data.get("from", ""))
            if pnid not in self.numbers or not wa_id.isdigit():
                return JSONResponse({"error": "unknown number or invalid wa_id"}, status_code=400)
            at = float(data.get("timestamp") or time.time())
            wamid = str(data.get("id") or "wamid." + self.hex_id("", 40))
            message = dict(
                data.get("message") or {"type": "text", "text": {"body": str(data.get("body", ""))}}
            )
            spec = data.get("media")
            if isinstance(spec, dict):
                kind = str(spec.get("kind", "image"))
                media_id = self.media.put(spec)
                medium = self.media.items[media_id]
                body: dict[str, Any] = {
                    "id": media_id,
                    "mime_type": medium.content_type,
                    "sha256": medium.summary()["sha256"],
                }
                if spec.get("caption"):
                    body["caption"] = str(spec["caption"])
                if kind == "document" and medium.name:
                    body["filename"] = medium.name
                message = {"type": kind, kind: body}
            message.update({"from": wa_id, "id": wamid, "timestamp": str(int(at))})
            self.last_inbound[(pnid, wa_id)] = max(at, self.last_inbound.get((pnid, wa_id), 0.0))
            hook = self._hook(
                "inbound",
                pnid,
                {
                    "contacts": [{"profile": {"name": str(data.get("name", ""))}, "wa_id": wa_id}],
                    "messages": [message],
                },
            )
            return JSONResponse({"id": wamid, "webhook": hook})

        async def phone_read(request: Request) -> Response:
            data = await json_body(request)
            pnid, wa_id = str(data.get("phone_number_id", "")), str(data.get("from", ""))
            read = [
                m["id"]
                for m in self.sent
                if m.get("to") == wa_id and "id" in m and m["phone_number_id"] == pnid
            ]
            for wamid in read:
                self._status(pnid, wamid, wa_id, "read")
            return JSONResponse({"read": read})

        async def phone_inbox(request: Request) -> Response:
            wa_id = request.path_params["wa_id"]
            return JSONResponse(
                [
                    {
                        "id": m["id"],
                        "at": m["at"],
                        "phone_number_id": m["phone_number_id"],
                        "body": (m.get("text") or {}).get("body", ""),
                        "type": m.get("type", "text"),
                        "media": m.get("media"),
                        "caption": (m.get(m.get("type", "")) or {}).get("caption", ""),
                    }
                    for m in self.sent
                    if m.get("to") == wa_id and "id" in m and "error_code" not in m
                ]
            )

        return [
            Route("/{version}/{pnid}/messages", self.send, methods=["POST"]),
            Route("/_emulator/configure", configure, methods=["POST"]),
            Route("/_emulator/phone/send", phone_send, methods=["POST"]),
            Route("/_emulator/phone/read", phone_read, methods=["POST"]),
            Route("/_emulator/phone/{wa_id}/inbox", phone_inbox),
            Route("/whatsapp_business/attachments/", self.media_bytes),
            Route("/{version}/{media_id}", self.media_url),
        ]
