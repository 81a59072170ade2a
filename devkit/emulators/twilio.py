"""Twilio's Messaging API, as much as the gateway uses (channels/sms/twilio.py).

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (HTTP basic auth with the
  account SID and auth token; form fields To, From, Body, StatusCallback): 201 with the
  message resource, then status callbacks (``sent``, ``delivered``; or ``undelivered``
  with ErrorCode 30032 for an unverified toll-free number, 30034 for an unregistered
  A2P 10DLC number). Refusals as Twilio answers them: 401 code 20003 (credentials),
  400 code 21211 (invalid To), 21606 (From is not the account's SMS number), 21610
  (unsubscribed recipient).
* Inbound webhooks and status callbacks are form-encoded and signed with
  ``X-Twilio-Signature`` (the official package's ``RequestValidator``).
* MMS: a phone's media are served at ``MediaUrl{N}``
  (``/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}``, basic
  auth with the account's credentials; 401 code 20003 without). A send's ``MediaUrl``
  (repeated, at most 10: else 400 code 21623; not http(s): 400 code 21620) is fetched
  before the answer, as Twilio does, and checked: an answer other than 200 fails the
  message with ErrorCode 11200, a type Twilio does not accept with 12300, more than
  5 MB in all with 11751 (in the status callback, as Twilio reports them).

Control (``/_emulator/``): ``configure`` accounts and numbers, ``phone/send`` (a phone
texts a number), ``phone/inbox`` (what a phone received), ``unsubscribe``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import phonenumbers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from devkit.emulators.base import Emulator, json_body
from devkit.emulators.media import MediaStore, Medium, fetch

MAX_MEDIA = 10
MAX_MMS_BYTES = 5 * 1024 * 1024
# The content types Twilio's API accepts for MMS (its "accepted content types for media").
MMS_TYPES = frozenset(
    {
        "image/jpeg", "image/jpg", "image/gif", "image/png", "image/bmp", "image/tiff",
        "audio/basic", "audio/mp4", "audio/mpeg", "audio/ogg", "audio/3gpp", "audio/amr",
        "audio/webm", "audio/aac", "video/mpeg", "video/mp4", "video/quicktime",
        "video/webm", "video/3gpp", "text/vcard", "text/csv", "text/rtf",
        "text/calendar", "application/pdf", "application/msword",
        "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)  # fmt: skip


def _e164(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _basic(header: str) -> tuple[str, str]:
    try:
        user, _, token = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        return "", ""
    return user, token


# Numbers whose sends are accepted, then fail at the carrier with this error code.
CARRIER_ERRORS = {"unverified_tollfree": 30032, "unregistered_a2p": 30034}


class TwilioEmulator(Emulator):
    name = "twilio"

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, str] = {}  # account SID -> auth token
        # E.164 -> {"account": sid, "sms_url": url, "status": "ok" | CARRIER_ERRORS key}
        self.numbers: dict[str, dict[str, str]] = {}
        self.unsubscribed: set[str] = set()
        self.status_delay = 0.05
        self.media = MediaStore("ME")
        # (account, media sid) -> message sid, for the media URL's check
        self._media_of: dict[str, tuple[str, str]] = {}

    def reset(self) -> None:
        super().reset()
        self.unsubscribed.clear()

    def forget_configuration(self) -> None:
        self.accounts.clear()
        self.numbers.clear()

    def sign(self, account: str, url: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        token = self.accounts.get(account, "")
        signature = RequestValidator(token).compute_signature(url, params)
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": self.hex_id("", 32),
        }

    # -- the REST API --------------------------------------------------------------------
    async def create_message(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        user, token = _basic(request.headers.get("authorization", ""))
        if user != sid or self.accounts.get(sid) != token or not token:
            return _error(401, 20003, "Authenticate")
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        record: dict[str, Any] = {k: v for k, v in form if k != "MediaUrl"}
        media_urls = [v for k, v in form if k == "MediaUrl"]
        if media_urls:
            record["MediaUrl"] = media_urls
        record["account"] = sid
        injected = self.failure()
        if injected is not None:
            record["refused"] = injected[0]
            await self.record(record)
            return JSONResponse(injected[1] or {"status": injected[0]}, status_code=injected[0])
        to, frm = _e164(record.get("To", "")), record.get("From", "")
        number = self.numbers.get(frm)
        refusal = None
        if to is None:
            refusal = _error(
                400, 21211, f"The 'To' number {record.get('To')} is not a valid phone number."
            )
        elif number is None or number["account"] != sid:
            refusal = _error(
                400,
                21606,
                f"The From phone number {frm} is not a valid, SMS-capable inbound phone number or short code for your account.",
            )
        elif to in self.unsubscribed:
            refusal = _error(400, 21610, "Attempt to send to unsubscribed recipient")
        elif not record.get("Body") and not media_urls:
            refusal = _error(400, 21602, "Message body is required.")
        elif len(media_urls) > MAX_MEDIA:
            refusal = _error(400, 21623, "Number of media files exceeds allowed limit")
        elif any(urlsplit(u).scheme not in ("http", "https") for u in media_urls):
            refusal = _error(400, 21620, "Invalid media URL(s)")
        if refusal is not None:
            record["refused"] = refusal.status_code
            await self.record(record)
            return refusal
        assert to is not None and number is not None
        msg_sid = self.hex_id("SM")
        record["sid"] = msg_sid
        media_error = None
        if media_urls:
            fetched, media_error = await self._fetch_media(media_urls)
            record["media"] = [self.kept(m, u) for m, u in zip(fetched, media_urls, strict=False)]
            if media_error:
                record["error_code"] = media_error  # never reaches the phone
        await self.record(record)
        callback = record.get("StatusCallback", "")
        if callback:
            code = media_error or CARRIER_ERRORS.get(number.get("status", "ok"))
            base = {
                "MessageSid": msg_sid,
                "SmsSid": msg_sid,
                "AccountSid": sid,
                "From": frm,
                "To": to,
                "ApiVersion": "2010-04-01",
            }
            steps = [{"MessageStatus": "sent"}, {"MessageStatus": "delivered"}]
            if code is not None:
                steps = [{"MessageStatus": "undelivered", "ErrorCode": str(code)}]
            self._statuses(sid, callback, [{**base, **s} for s in steps])
        return JSONResponse(
            {
                "sid": msg_sid,
                "account_sid": sid,
                "from": frm,
                "to": to,
                "body": record.get("Body", ""),
                "status": "queued",
                "num_segments": "1",
                "num_media": str(len(media_urls)),
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{sid}/Messages/{msg_sid}.json",
            },
            status_code=201,
        )

    async def _fetch_media(self, urls: list[str]) -> tuple[list[Medium], int | None]:
        """Each MediaUrl as Twilio fetches it, and the error code of the first problem."""
        got: list[Medium] = []
        for url in urls:
            result = await fetch(self.http(), url, MAX_MMS_BYTES)
            if result.medium is None:
                return got, 11751 if result.error == "too_large" else 11200
            if result.medium.content_type not in MMS_TYPES:
                return got, 12300
            got.append(result.medium)
        if sum(len(m.data) for m in got) > MAX_MMS_BYTES:
            return got, 11751
        return got, None

    async def serve_media(self, request: Request) -> Response:
        """A phone's medium, to the account's credentials only."""
        sid, media_sid = request.path_params["sid"], request.path_params["media_sid"]
        user, token = _basic(request.headers.get("authorization", ""))
        if user != sid or not token or self.accounts.get(sid) != token:
            return _error(401, 20003, "Authenticate")
        owner = self._media_of.get(media_sid)
        medium = self.media.items.get(media_sid)
        if medium is None or owner is None or owner != (sid, request.path_params["msg_sid"]):
            return _error(404, 20404, "The requested resource was not found")
        return Response(medium.data, media_type=medium.content_type)

    def _statuses(self, account: str, url: str, steps: list[dict[str, str]]) -> None:
        def signed(step: dict[str, str]) -> Callable[[], tuple[bytes, dict[str, str]]]:
            return lambda: self.sign(account, url, step)

        async def run() -> None:
            for step in steps:
                # in order: each waits for the previous one to be answered (or given up)
                await self.post_now("status", url, signed(step))
                await asyncio.sleep(self.status_delay)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/2010-04-01/Accounts/{sid}/Messages.json", self.create_message, methods=["POST"]
            ),
            Route(
                "/2010-04-01/Accounts/{sid}/Messages/{msg_sid}/Media/{media_sid}",
                self.serve_media,
            ),
            *self.phone_routes(),
        ]

    # -- the control API: configuration and the contacts' phones ----------------------------
    def phone_routes(self) -> list[BaseRoute]:
        async def configure(request: Request) -> Response:
            data = await json_body(request)
            self.accounts.update(data.get("accounts", {}))
            for number, conf in data.get("numbers", {}).items():
                self.numbers[number] = {"status": "ok", **conf}
            return JSONResponse({"accounts": list(self.accounts), "numbers": self.numbers})

        async def phone_send(request: Request) -> Response:
            """A phone (``from``) texts a number of an account (``to``)."""
            data = await json_body(request)
            to, frm = str(data.get("to", "")), _e164(str(data.get("from", "")))
            number = self.numbers.get(to)
            if number is None or frm is None:
                return JSONResponse({"error": "unknown number or invalid phone"}, status_code=400)
            sid = str(data.get("sid") or self.hex_id("SM"))
            params = {
                "ToCountry": "US",
                "SmsMessageSid": sid,
                "NumMedia": "0",
                "SmsSid": sid,
                "SmsStatus": "received",
                "Body": str(data.get("body", "")),
                "To": to,
                "NumSegments": "1",
                "MessageSid": sid,
                "AccountSid": number["account"],
                "From": frm,
                "ApiVersion": "2010-04-01",
            }
            # media: {"content_type", "data" (base64)}: kept and served behind the
            # account's credentials; or {"url", "content_type"} as given
            base = str(request.base_url).rstrip("/")
            for i, media in enumerate(data.get("media", [])):
                url = str(media.get("url", ""))
                if not url:
                    media_sid = self.media.put(media)
                    self._media_of[media_sid] = (number["account"], sid)
                    url = f"{base}/2010-04-01/Accounts/{number['account']}/Messages/{sid}/Media/{media_sid}"
                params[f"MediaUrl{i}"] = url
                params[f"MediaContentType{i}"] = str(media["content_type"])
                params["NumMedia"] = str(i + 1)
            url = number["sms_url"]
            hook = self.post_later(
                "inbound", url, lambda: self.sign(number["account"], url, params)
            )
            return JSONResponse({"sid": sid, "webhook": hook.id})

        async def phone_inbox(request: Request) -> Response:
            """What a phone received (the sends to it that were accepted)."""
            phone = request.path_params["phone"]
            return JSONResponse(
                [
                    {
                        "sid": m["sid"],
                        "at": m["at"],
                        "from": m.get("From", ""),
                        "body": m.get("Body", ""),
                        "media": m.get("media", []),
                    }
                    for m in self.sent
                    if m.get("To") == phone and "sid" in m and "error_code" not in m
                ]
            )

        async def unsubscribe(request: Request) -> Response:
            self.unsubscribed.add(str((await json_body(request))["number"]))
            return JSONResponse({"unsubscribed": sorted(self.unsubscribed)})

        return [
            Route("/_emulator/configure", configure, methods=["POST"]),
            Route("/_emulator/phone/send", phone_send, methods=["POST"]),
            Route("/_emulator/phone/{phone}/inbox", phone_inbox),
            Route("/_emulator/unsubscribe", unsubscribe, methods=["POST"]),
        ]
