"""SMS (and MMS): a touchpoint is a phone number of an SMS provider's account (Twilio
first, channels/sms/twilio.py; the provider is behind channels/sms/provider.py).

Inbound, the provider posts each text to ``/webhooks/sms/{touchpoint_id}``: the
signature is checked, the message committed (idempotent on the provider's id), and only
then answered 200. A single-word keyword (keywords.py) opts the number out of, or back
into, every SMS touchpoint of the gateway, with the standard reply. Outbound, what
agents write is delivered through the provider by the core's delivery worker, and the
provider's status callbacks (``/webhooks/sms/{touchpoint_id}/status``) say what became
of it. docs/channels/sms.md has every rule.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from channels.base import Problems
from channels.media import download, public_link, under
from channels.outbound import HttpAdapter
from channels.sms.keywords import REPLIES, Keyword, keyword
from channels.sms.mms import e164, mms_refusal
from channels.sms.provider import Action, InboundSms, SmsProvider
from channels.sms.twilio import TwilioSms, api_base
from channels.webhooks import (
    base_url,
    read_body,
    receive_by_direction,
    signed_url,
    touchpoint_of,
)
from gateway import protocol as p
from gateway.errors import Conflict, FileRefused, InvalidInput, NotFound, Unavailable
from gateway.model.channel_state import Content
from gateway.model.inbound import DeliveryReport, InboundFile, InboundMessage
from gateway.model.records import Conversation, Message, Touchpoint
from gateway.services.deliveries import Outcome, failed
from gateway.services.notify import ContactNote

log = logging.getLogger("gateway.sms")

PROVIDERS: dict[str, SmsProvider] = {"twilio": TwilioSms()}
# The client message ids of the gateway's keyword replies: delivered even to a number
# that just opted out (the confirmation is the last message it gets).
KEYWORD_REPLY = "sms-keyword-"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# A keyword's reply sent outside conversations (an outbound-only touchpoint with none
# open) is claimed per touchpoint and provider message id in the store's
# ``idempotency_keys``, for longer than any provider retries a webhook.
KEYWORD_SCOPE = "sms-keyword-reply:"
KEYWORD_REPLY_SECONDS = 86_400.0
OPTED_OUT = (
    "This contact texted STOP: no SMS can reach them from any of our numbers until they text START."
)


class KeywordReplyUnsent(Unavailable):
    """The provider could not take a keyword's reply now; the webhook's retry sends it."""

    code = "keyword_reply_unsent"


class SmsChannel(HttpAdapter):
    name = "sms"
    # MMS: an agent's files go out as the message's MediaUrl (channels/media.py)
    delivers_files = True
    secret_settings = tuple(sorted({s for pr in PROVIDERS.values() for s in pr.secret_settings}))

    # -- configuration -------------------------------------------------------------------
    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        problems: Problems = []
        if tp.domain:
            problems.append(("domain", "SMS touchpoints have no domain"))
        settings = dict(tp.settings)
        name = str(settings.get("provider", "twilio"))
        provider = PROVIDERS.get(name)
        if provider is None:
            return tp, [*problems, ("settings.provider", f"one of {', '.join(PROVIDERS)}")]
        settings["provider"] = name
        number = e164(str(settings.get("number", "")))
        if number is None:
            problems.append(
                ("settings.number", "the touchpoint's number in E.164, e.g. +15551234567")
            )
        else:
            settings["number"] = number
            for other in self.core.directory.touchpoints.values():
                if (
                    other.id != tp.id
                    and other.channel == "sms"
                    and other.settings.get("number") == number
                ):
                    problems.append(
                        ("settings.number", f"{number} is already touchpoint {other.id}'s")
                    )
        settings, more = provider.check(settings)
        known = {"provider", "number", "account_sid", "auth_token", "api_base"}
        problems += [
            *more,
            *((f"settings.{k}", "unknown setting") for k in sorted(set(settings) - known)),
        ]
        return msgspec.structs.replace(tp, settings=settings), problems

    def _provider(self, tp: Touchpoint) -> SmsProvider:
        return PROVIDERS[str(tp.settings.get("provider", "twilio"))]

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/webhooks/sms/{touchpoint_id}", self.inbound, methods=["POST"]),
            Route("/webhooks/sms/{touchpoint_id}/status", self.status_callback, methods=["POST"]),
        ]

    # -- inbound ---------------------------------------------------------------------------
    async def _verified(self, request: Request) -> tuple[Touchpoint, dict[str, str]]:
        tp = touchpoint_of(self.core.directory, request, "sms")
        body = await read_body(request, self.core.settings)
        url = signed_url(self.core.settings, request)
        signature = request.headers.get("x-twilio-signature", "")
        return tp, self._provider(tp).verify(tp, url, body, signature)

    async def inbound(self, request: Request) -> Response:
        tp, params = await self._verified(request)
        sms = self._provider(tp).inbound(params)
        sender = e164(sms.from_number)
        if sender is None:
            raise InvalidInput([("From", "not a valid phone number")])
        if e164(sms.to_number) != tp.settings.get("number"):
            raise InvalidInput([("To", "this webhook's touchpoint has another number")])
        kw = keyword(sms.body)
        if kw in ("opt_out", "opt_in"):
            # Recorded first, whatever becomes of the message: an opt-out holds even
            # where the message cannot be stored (an inactive touchpoint, or one that
            # takes no new inbound conversations); a retry records it again, unchanged.
            changed = await self.core.contacts.set_opted_out("sms", sender, kw == "opt_out")
            if changed:
                log.info("SMS %s for %s on touchpoint %s", kw, _masked(sender), tp.id)
            if not tp.active:
                return Response(EMPTY_TWIML, media_type="text/xml")
        files, unsupported = self._media(tp, sender, sms)
        inbound = InboundMessage(
            touchpoint_id=tp.id,
            address=sender,
            provider_message_id=sms.provider_message_id,
            body=sms.body,
            fields={"phone": sender},
            files=files,
            unsupported=unsupported,
        )
        # An outbound-only touchpoint takes the contact's answers to an open
        # conversation, never a new one; a keyword is answered all the same: no notice.
        received = await receive_by_direction(self.core, tp, inbound, notify=kw is None)
        if received is None:
            if kw is not None:
                await self._answer_untaken(tp, sender, sms.provider_message_id, kw)
            return Response(EMPTY_TWIML, media_type="text/xml")
        conv, _ = received
        # Done again for a provider's retry (in the conversation the first delivery
        # went to): each step is idempotent, and the first may have stopped half-way.
        if kw is not None:
            await self.core.conversations.system_send(
                conv, f"{KEYWORD_REPLY}{sms.provider_message_id}", REPLIES[kw]
            )
            await self.core.conversations.changed(conv)
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def _answer_untaken(self, tp: Touchpoint, to: str, sid: str, kw: Keyword) -> None:
        """A keyword's reply on an outbound-only touchpoint with no conversation open
        (US carriers expect STOP and HELP answered on every number): sent through the
        provider outside any conversation, untracked, once per provider message id (a
        retry on any node finds it claimed). A send worth trying again leaves the id
        free and answers the webhook 503, which the provider retries; a refusal is
        logged (and told to the admins when only they can fix it)."""
        if await self.core.idempotency.remember(KEYWORD_SCOPE + tp.id, sid, KEYWORD_REPLY_SECONDS):
            return  # answered already
        try:
            result = await self._provider(tp).send(self.http, tp, to, REPLIES[kw], "", [])
        except BaseException:
            await self.core.idempotency.release(KEYWORD_SCOPE + tp.id, sid)
            raise
        outcome = result.outcome
        if outcome.sent:
            log.info("SMS %s answered for %s on outbound-only %s", kw, _masked(to), tp.id)
            return
        if outcome.retryable:
            await self.core.idempotency.release(KEYWORD_SCOPE + tp.id, sid)
            raise KeywordReplyUnsent(f"the keyword's reply could not be sent: {outcome.reason}")
        log.warning("SMS %s reply on %s refused: %s", kw, tp.id, outcome.reason)
        if result.action == "notify_admins":
            await self.core.notices.notify(
                "sending_refused",
                f"SMS touchpoint {tp.name} ({tp.settings.get('number', '')}):"
                f" {result.admin_message}",
                touchpoint_id=tp.id,
                email=True,  # the reference emails the admins too (only they can fix it)
            )

    def _media(
        self, tp: Touchpoint, sender: str, sms: InboundSms
    ) -> tuple[tuple[InboundFile, ...], tuple[str, ...]]:
        """The message's media as files the core fetches with the account's credentials
        (only from the provider's own API), or why they cannot be passed on."""
        if not sms.media:
            return (), ()
        refusal = mms_refusal(str(tp.settings.get("number", "")), sender)
        if refusal:
            return (), (f"{len(sms.media)} MMS attachment(s): {refusal}",)
        auth = (str(tp.settings.get("account_sid", "")), str(tp.settings.get("auth_token", "")))
        files, unsupported = [], []
        for i, media in enumerate(sms.media, 1):
            if not under(media.url, api_base(tp)):
                unsupported.append(f"MMS attachment {i}: not at the provider's address")
                continue
            files.append(
                InboundFile(
                    name=f"mms-{i}",
                    # Twilio may redirect to its storage: the credentials stay behind
                    # (httpx drops them on a redirect to another origin)
                    open=download(self.http, media.url, "Twilio", auth=auth, follow_redirects=True),
                    content_type=media.content_type,
                )
            )
        return tuple(files), tuple(unsupported)

    async def status_callback(self, request: Request) -> Response:
        tp, params = await self._verified(request)
        report = self._provider(tp).status(params)
        if not report.status:
            return Response(status_code=204)
        target = await self._target(tp, request.query_params.get("m", ""))
        if target is None:
            msg = await self.core.deliveries.by_provider_id(report.provider_message_id, tp.id)
            target = (msg.conversation_id, msg.seq) if msg else None
        if target is None:
            log.info("status of an unknown SMS on touchpoint %s", tp.id)
            return Response(status_code=204)
        conv_id, seq = target
        await self.core.deliveries.report(
            DeliveryReport(
                conversation_id=conv_id,
                seq=seq,
                status=report.status,
                reason=report.reason,
                provider_id=report.provider_message_id,
            )
        )
        await self._act(
            report.action, report.admin_message, tp, await self.core.conversations.get(conv_id)
        )
        return Response(status_code=204)

    async def _target(self, tp: Touchpoint, ref: str) -> tuple[str, int] | None:
        """The message a status callback's URL names (``?m=<conversation>.<seq>``, signed
        with the rest): known even when the callback overtakes the record of the send."""
        conv_id, _, seq = ref.rpartition(".")
        if not conv_id or not seq.isdigit():
            return None
        try:
            conv = await self.core.conversations.get(conv_id)
        except NotFound:
            return None
        return (conv.id, int(seq)) if conv.touchpoint_id == tp.id else None

    async def _act(
        self, action: Action, admin_message: str, tp: Touchpoint, conv: Conversation
    ) -> None:
        if action == "opted_out":
            if await self.core.contacts.set_opted_out("sms", conv.address, True):
                await self.core.conversations.changed(conv)
        elif action == "notify_admins":
            await self.core.notices.notify(
                "sending_refused",
                f"SMS touchpoint {tp.name} ({tp.settings.get('number', '')}): {admin_message}",
                touchpoint_id=tp.id,
                conversation_id=conv.id,
                email=True,  # the reference emails the admins too (only they can fix it)
            )

    # -- outbound --------------------------------------------------------------------------
    async def check_outbound(self, conv: Conversation) -> None:
        if await self.core.contacts.opted_out("sms", conv.address):
            raise Conflict(OPTED_OUT, code="opted_out")

    async def check_start(
        self, tp: Touchpoint, address: str, content: Content | None
    ) -> tuple[str, dict[str, str]]:
        """An agent texts first: a valid number (kept in E.164) that has not opted out."""
        number = e164(address)
        if number is None:
            raise InvalidInput([("address", "not a valid phone number (E.164: +15551234567)")])
        if content:
            raise InvalidInput([("content", "SMS messages carry no content")])
        if await self.core.contacts.opted_out("sms", number):
            raise Conflict(OPTED_OUT, code="opted_out")
        return number, {"phone": number}

    async def check_files(self, conv: Conversation) -> None:
        refusal = self._mms_refusal(conv)
        if refusal:
            raise FileRefused(refusal, code="attachments_unavailable")

    def _mms_refusal(self, conv: Conversation) -> str:
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        return mms_refusal(str(tp.settings.get("number", "")) if tp else "", conv.address)

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        if tp is None or tp.channel != "sms":
            return failed("the touchpoint of this conversation no longer exists")
        if not message.client_msg_id.startswith(
            KEYWORD_REPLY
        ) and await self.core.contacts.opted_out("sms", conv.address):
            return failed(OPTED_OUT)
        if message.attachments and self._mms_refusal(conv):
            return failed(self._mms_refusal(conv))
        callback = (
            f"{base_url(self.core.settings)}/webhooks/sms/{tp.id}/status?m={conv.id}.{message.seq}"
        )
        media = [public_link(self.core, conv, a.id) for a in message.attachments]
        result = await self._provider(tp).send(
            self.http, tp, conv.address, message.body, callback, media
        )
        if result.action:
            await self._act(result.action, result.admin_message, tp, conv)
        return result.outcome

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Nothing live: texts go out through ``deliver``; typing and read counts do not
        exist on SMS."""

    async def conversation_state(self, conv: Conversation) -> p.ChannelState:
        refusal = self._mms_refusal(conv)
        opted_out = await self.core.contacts.opted_out("sms", conv.address)
        return p.ChannelState(
            locked="opted_out" if opted_out else "",
            notice=OPTED_OUT if opted_out else "",
            attachments=not refusal,
            attachments_reason=refusal,
            segments=True,
        )


def _masked(number: str) -> str:
    """A phone number for the logs: enough to tell two apart, not to text them."""
    return number[:4] + "…" + number[-2:] if len(number) > 6 else "…"
