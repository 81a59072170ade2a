"""Twilio's Messaging API: inbound and status webhooks (form-encoded, signed with
``X-Twilio-Signature``, checked with the official ``twilio`` package's validator), and
sending through ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

The error codes the gateway acts on are data (:data:`ERRORS`): what the agent reads,
and whether the admins are told or the contact's opt-out recorded.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from channels.outbound import post, transient
from channels.sms.provider import Action, InboundSms, Media, SendResult, StatusReport
from gateway.errors import Forbidden, InvalidInput
from gateway.model.records import Touchpoint
from gateway.services.deliveries import credential_problem, failed, sent
from gateway.settings import http_url_problem

DEFAULT_API: Final = "https://api.twilio.com"
ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")

# code: (what the agent reads, what else the gateway does)
ERRORS: Final[dict[int, tuple[str, Action]]] = {
    20003: (
        "Failed to send message: the provider refused this touchpoint's credentials",
        "notify_admins",
    ),
    21211: ("the contact's number is not a valid phone number", ""),
    21408: ("Failed to send message: the account may not send SMS to this region", "notify_admins"),
    21606: ("Failed to send message: this touchpoint's number cannot send SMS", "notify_admins"),
    21610: ("the contact has unsubscribed (texted STOP); they must text START first", "opted_out"),
    21614: ("the contact's number cannot receive SMS", ""),
    30003: ("the contact's phone is unreachable", ""),
    30005: ("the contact's number is unknown to the carrier", ""),
    30006: ("the contact's number is a landline or unreachable carrier", ""),
    30007: ("the carrier filtered the message", ""),
    # media (MMS): Twilio fetches each MediaUrl and checks it
    11200: ("the provider could not fetch the attachment from the gateway", ""),
    11751: ("the attachments are larger than MMS allows (5 MB)", ""),
    12300: ("the provider does not accept this attachment's type", ""),
    21620: ("the provider refused an attachment's address", ""),
    21623: ("more attachments than MMS allows (10)", ""),
    30019: ("the attachments are larger than the contact's carrier accepts", ""),
    30032: (
        "Failed to send message: this touchpoint's toll-free number is not verified",
        "notify_admins",
    ),
    30034: (
        "Failed to send message: this touchpoint's number is not registered for US A2P 10DLC",
        "notify_admins",
    ),
}
# What the admins are asked to do, for the errors that tell them.
ADMIN_ACTIONS: Final[dict[int, str]] = {
    20003: "check the touchpoint's account SID and auth token",
    21408: "enable the destination's region in the provider's geographic permissions",
    21606: "use an SMS-capable number of the account",
    30032: "submit the toll-free number for verification with the provider (toll-free"
    " verification); until it is verified its messages are blocked",
    30034: "register the number with an A2P 10DLC brand and campaign with the provider;"
    " until then US carriers block its messages",
}
STATUSES: Final[dict[str, str]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}


def api_base(tp: Touchpoint) -> str:
    return str(tp.settings.get("api_base") or DEFAULT_API).rstrip("/")


def _explain(code: int | None, fallback: str) -> tuple[str, Action, str]:
    if code is None or code not in ERRORS:
        reason = fallback + (f" (error {code})" if code else "")
        return reason, "", ""
    reason, action = ERRORS[code]
    admin = ADMIN_ACTIONS.get(code, "")
    return reason, action, (f"{reason} (error {code}): {admin}" if admin else "")


class TwilioSms:
    name = "twilio"
    secret_settings: tuple[str, ...] = ("auth_token",)

    def check(self, settings: dict[str, object]) -> tuple[dict[str, object], list[tuple[str, str]]]:
        out = dict(settings)
        problems: list[tuple[str, str]] = []
        # both go into every request (the URL, the basic auth) and the auth token is the
        # key of the webhooks' signatures: surrounding whitespace (a pasted line break)
        # is removed, and what is left must be fit for that (credential_problem)
        sid = str(settings.get("account_sid", "")).strip()
        out["account_sid"] = sid
        if not ACCOUNT_SID.fullmatch(sid):
            problems.append(("settings.account_sid", "the account SID: AC and 32 hex digits"))
        token = str(settings.get("auth_token", "")).strip()
        out["auth_token"] = token
        if not token:
            problems.append(("settings.auth_token", "the account's auth token is required"))
        elif problem := credential_problem(token):
            problems.append(("settings.auth_token", problem))
        api = str(settings.get("api_base", "") or DEFAULT_API).rstrip("/")
        if http_url_problem(api):  # also a bad port or an unclosed IPv6 bracket (a 500)
            problems.append(("settings.api_base", "an http(s) URL, e.g. https://api.twilio.com"))
        out["api_base"] = api
        return out, problems

    def verify(self, tp: Touchpoint, url: str, body: bytes, signature: str) -> dict[str, str]:
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            pairs = None
        token = str(tp.settings.get("auth_token", ""))
        # Checked before anything is read from the parameters (the signature covers
        # them all; the validator compares in constant time).
        params: dict[str, object] = {}
        for key, value in pairs or []:
            prior = params.get(key)
            params[key] = (
                [*prior, value]
                if isinstance(prior, list)
                else ([prior, value] if prior is not None else value)
            )
        if pairs is None or not signature or not token:
            raise Forbidden("the webhook's signature is missing or wrong", code="bad_signature")
        if not RequestValidator(token).validate(url, params, signature):
            raise Forbidden("the webhook's signature is missing or wrong", code="bad_signature")
        return {k: v if isinstance(v, str) else str(v[0]) for k, v in params.items()}  # type: ignore[index]

    def inbound(self, params: dict[str, str]) -> InboundSms:
        missing = [f for f in ("MessageSid", "From", "To") if not params.get(f)]
        if missing:
            raise InvalidInput([(f, "required in a Twilio message webhook") for f in missing])
        try:
            count = int(params.get("NumMedia", "0") or "0")
        except ValueError:
            raise InvalidInput([("NumMedia", "a number")]) from None
        media = [
            Media(params.get(f"MediaUrl{i}", ""), params.get(f"MediaContentType{i}", ""))
            for i in range(min(count, 10))
        ]
        return InboundSms(
            provider_message_id=params["MessageSid"],
            from_number=params["From"],
            to_number=params["To"],
            body=params.get("Body", ""),
            media=media,
        )

    def status(self, params: dict[str, str]) -> StatusReport:
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if not sid or not params.get("MessageStatus"):
            raise InvalidInput([("MessageSid", "a status callback names the message and status")])
        status = STATUSES.get(params["MessageStatus"], "")
        if status != "failed":
            return StatusReport(provider_message_id=sid, status=status)  # type: ignore[arg-type]
        code_text = params.get("ErrorCode", "")
        code = int(code_text) if code_text.isdigit() else None
        reason, action, admin = _explain(code, "the carrier did not deliver the message")
        return StatusReport(
            provider_message_id=sid,
            status="failed",
            reason=reason,
            action=action,
            admin_message=admin,
        )

    async def send(
        self,
        http: httpx.AsyncClient,
        tp: Touchpoint,
        to: str,
        body: str,
        status_callback: str,
        media_urls: list[str],
    ) -> SendResult:
        s = tp.settings
        sid, token = str(s.get("account_sid", "")), str(s.get("auth_token", ""))
        # settings stored before the check refused such values: a request made of them
        # could only be refused (or go to another address than the account's), so none is
        token_problem = credential_problem(token)
        problem = (
            "" if ACCOUNT_SID.fullmatch(sid) else "the account SID is not AC and 32 hex digits"
        ) or (token_problem and f"the auth token: {token_problem}")
        if problem:
            return SendResult(
                outcome=failed(
                    "Failed to send message: this touchpoint's account SID or auth token cannot"
                    " be sent to the provider"
                ),
                action="notify_admins",
                admin_message=f"{problem}; set the account SID and auth token again",
            )
        url = f"{api_base(tp)}/2010-04-01/Accounts/{sid}/Messages.json"
        form: dict[str, str | list[str]] = {
            "To": to,
            "From": str(s.get("number", "")),
            "Body": body,
        }
        if status_callback:  # none for an untracked send (a keyword's reply)
            form["StatusCallback"] = status_callback
        if media_urls:
            form["MediaUrl"] = media_urls  # repeated: one per medium, up to 10
        answer = await post(http, "Twilio", url, auth=(sid, token), data=form)
        if not isinstance(answer, httpx.Response):
            return SendResult(outcome=answer)
        try:
            data = answer.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if answer.status_code in (200, 201) and data.get("sid"):
            return SendResult(outcome=sent(str(data["sid"])))
        retry = transient(answer, str(data.get("message", "")))
        if retry is not None:
            return SendResult(outcome=retry)
        code = data.get("code") if isinstance(data.get("code"), int) else None
        reason, action, admin = _explain(
            code, f"the provider refused the message ({answer.status_code})"
        )
        return SendResult(outcome=failed(reason), action=action, admin_message=admin)
