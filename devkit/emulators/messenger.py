"""Meta's Messenger Platform, as much as the gateway uses (channels/messenger).

* ``POST /{version}/me/messages?access_token=<page token>`` with ``{"recipient": {"id":
  PSID}, "messaging_type": "RESPONSE", "message": {"text": ...}}``: 200
  ``{"recipient_id", "message_id"}``, then a ``delivery`` webhook. Outside the 7-day
  window: 400 code 10, subcode 2018278 ("sent outside of allowed window"); a bad token:
  190; an unknown recipient: 100 / 2018001.
* Attachments: ``"message": {"attachment": {"type": "image" | "audio" | "video" |
  "file", "payload": {"url", "is_reusable"}}}``: the URL is fetched before the answer,
  as the Send API does; one that does not answer 200, or is over 25 MB, is refused
  with 400 code 100 subcode 2018047 ("Upload attachment failure"). A person's
  attachments reach the webhook as ``{"type", "payload": {"url"}}``, the URL an
  unguessable CDN address on this emulator (``/cdn/...``), as Meta's are signed.
* ``GET /{version}/{PSID}?fields=first_name,last_name&access_token=...``: the profile.
* Webhooks: ``{"object": "page", "entry": [{"id": PAGE, "time", "messaging": [{"sender",
  "recipient", "timestamp", "message" | "delivery" | "read"}]}]}`` signed with
  ``X-Hub-Signature-256``.

Control: ``configure`` pages and profiles, ``phone/send`` (a person writes to a page),
``phone/read`` (they read: a read watermark), ``phone/{psid}/inbox``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devkit.emulators.base import json_body
from devkit.emulators.media import MediaStore, fetch
from devkit.emulators.meta import MetaEmulator, graph_error, signed

MAX_ATTACHMENT = 25 * 1024 * 1024
ATTACHMENT_TYPES = ("image", "audio", "video", "file")


class MessengerEmulator(MetaEmulator):
    name = "messenger"
    window = 7 * 24 * 3600.0

    def __init__(self) -> None:
        super().__init__()
        # page id -> {"token", "app_secret", "webhook_url", "name"}
        self.pages: dict[str, dict[str, str]] = {}
        self.profiles: dict[str, dict[str, str]] = {}  # PSID -> first_name, last_name
        self.media = MediaStore("")

    def forget_configuration(self) -> None:
        self.pages.clear()
        self.profiles.clear()

    async def cdn(self, request: Request) -> Response:
        medium = self.media.items.get(request.path_params["key"])
        if medium is None:
            return Response(status_code=404)
        return Response(medium.data, media_type=medium.content_type)

    def _page_of(self, token: str) -> str | None:
        return next((pid for pid, p in self.pages.items() if token and p["token"] == token), None)

    def _hook(self, kind: str, page_id: str, event: dict[str, Any]) -> int:
        page = self.pages[page_id]
        now = int(time.time() * 1000)
        payload = {"object": "page", "entry": [{"id": page_id, "time": now, "messaging": [event]}]}
        return self.post_later(
            kind, page["webhook_url"], lambda: signed(page["app_secret"], payload)
        ).id

    async def send(self, request: Request) -> Response:
        page_id = self._page_of(request.query_params.get("access_token", ""))
        if page_id is None:
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        data = await json_body(request)
        psid = str((data.get("recipient") or {}).get("id", ""))
        record: dict[str, Any] = {"page_id": page_id, **data}
        injected = self.failure()
        if injected is not None:
            record["refused"] = injected[0]
            await self.record(record)
            return JSONResponse(injected[1] or {"error": {"code": 2}}, status_code=injected[0])
        message = data.get("message") or {}
        if not psid or not (message.get("text") or message.get("attachment")):
            record["refused"] = 400
            await self.record(record)
            return graph_error(400, 100, "(#100) The parameter message is required")
        if psid not in self.profiles:
            record["refused"] = 400
            await self.record(record)
            return graph_error(400, 100, "(#100) No matching user found", 2018001)
        if not self.window_open(page_id, psid, time.time()):
            record["refused"] = 400
            await self.record(record)
            return graph_error(
                400,
                10,
                "(#10) This message is sent outside of allowed window."
                " Learn more about the new policy here:"
                " https://developers.facebook.com/docs/messenger-platform/policy-overview",
                2018278,
            )
        attachment = message.get("attachment")
        if isinstance(attachment, dict):
            payload = attachment.get("payload") or {}
            link = str(payload.get("url", ""))
            got = await fetch(self.http(), link, MAX_ATTACHMENT)
            record["media"] = self.kept(got.medium, link) if got.medium else None
            if got.medium is None or attachment.get("type") not in ATTACHMENT_TYPES:
                record["refused"] = 400
                await self.record(record)
                return graph_error(400, 100, "(#100) Upload attachment failure.", 2018047)
        mid = "m_" + self.hex_id("", 40)
        record["message_id"] = mid
        await self.record(record)
        now = int(time.time() * 1000)
        self._hook(
            "delivery",
            page_id,
            {
                "sender": {"id": psid},
                "recipient": {"id": page_id},
                "delivery": {"mids": [mid], "watermark": now},
            },
        )
        return JSONResponse({"recipient_id": psid, "message_id": mid})

    async def profile(self, request: Request) -> Response:
        if self._page_of(request.query_params.get("access_token", "")) is None:
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        psid = request.path_params["psid"]
        profile = self.profiles.get(psid)
        if profile is None:
            return graph_error(
                400, 100, f"(#100) Unsupported get request. Object with ID '{psid}' does not exist"
            )
        fields = request.query_params.get("fields", "first_name,last_name").split(",")
        return JSONResponse({"id": psid, **{f: profile[f] for f in fields if f in profile}})

    def routes(self) -> list[BaseRoute]:
        async def configure(request: Request) -> Response:
            data = await json_body(request)
            self.pages.update(data.get("pages", {}))
            self.profiles.update(data.get("profiles", {}))
            return JSONResponse({"pages": list(self.pages)})

        async def phone_send(request: Request) -> Response:
            """A person (``psid``, with ``first_name`` and ``last_name``) writes to a page:
            ``text``, ``media`` (a list of ``{"kind", "content_type", "data" (base64),
            "name"}`` served from the CDN), or a whole ``message`` object."""
            data = await json_body(request)
            page_id, psid = str(data.get("page_id", "")), str(data.get("psid", ""))
            if page_id not in self.pages or not psid:
                return JSONResponse({"error": "unknown page or no psid"}, status_code=400)
            self.profiles.setdefault(
                psid,
                {
                    "first_name": str(data.get("first_name", "")),
                    "last_name": str(data.get("last_name", "")),
                },
            )
            at = float(data.get("timestamp") or time.time())
            mid = str(data.get("mid") or "m_" + self.hex_id("", 40))
            message = {"mid": mid, **(data.get("message") or {"text": str(data.get("text", ""))})}
            base = str(request.base_url).rstrip("/")
            attachments = []
            for spec in data.get("media") or []:
                key = self.media.put(spec, suffix=self.hex_id("-", 32))
                name = str(spec.get("name", "")) or "file"
                url = f"{base}/cdn/{key}/{name}"
                attachments.append({"type": str(spec.get("kind", "file")), "payload": {"url": url}})
            if attachments:
                message["attachments"] = attachments
            self.last_inbound[(page_id, psid)] = max(
                at, self.last_inbound.get((page_id, psid), 0.0)
            )
            hook = self._hook(
                "inbound",
                page_id,
                {
                    "sender": {"id": psid},
                    "recipient": {"id": page_id},
                    "timestamp": int(at * 1000),
                    "message": message,
                },
            )
            return JSONResponse({"mid": mid, "webhook": hook})

        async def phone_read(request: Request) -> Response:
            data = await json_body(request)
            page_id, psid = str(data.get("page_id", "")), str(data.get("psid", ""))
            watermark = int(time.time() * 1000)
            self._hook(
                "read",
                page_id,
                {
                    "sender": {"id": psid},
                    "recipient": {"id": page_id},
                    "timestamp": watermark,
                    "read": {"watermark": watermark},
                },
            )
            return JSONResponse({"watermark": watermark})

        async def phone_inbox(request: Request) -> Response:
            psid = request.path_params["psid"]
            return JSONResponse(
                [
                    {
                        "mid": m["message_id"],
                        "at": m["at"],
                        "page_id": m["page_id"],
                        "text": (m.get("message") or {}).get("text", ""),
                        "media": m.get("media"),
                    }
                    for m in self.sent
                    if (m.get("recipient") or {}).get("id") == psid and "message_id" in m
                ]
            )

        return [
            Route("/{version}/me/messages", self.send, methods=["POST"]),
            Route("/_emulator/configure", configure, methods=["POST"]),
            Route("/_emulator/phone/send", phone_send, methods=["POST"]),
            Route("/_emulator/phone/read", phone_read, methods=["POST"]),
            Route("/_emulator/phone/{psid}/inbox", phone_inbox),
            Route("/cdn/{key}/{name}", self.cdn),
            Route("/{version}/{psid}", self.profile),
        ]
