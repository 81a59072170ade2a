"""WhatsApp through Meta's WhatsApp Business Cloud API: a touchpoint is a business phone
number (its phone number id) of a Meta app.

Meta posts every event of the app to ``/webhooks/whatsapp/{touchpoint_id}`` (after the
``GET`` subscription handshake with the touchpoint's verify token), signed with the
app secret: contacts' messages (with their profile names) and the statuses of what was
sent (sent, delivered, read, failed). Agents may write only within the 24-hour session
window the contact's last message opened (gateway/services/windows.py); contacts from
the blocked countries (countries.py) are refused at intake. docs/channels/whatsapp.md.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from channels import outbound
from channels.base import Problems
from channels.media import Open, download, http_url, public_link
from channels.meta import settings as meta
from channels.meta.graph import outcome_of_error
from channels.meta.state import window_state
from channels.meta.token import AccessToken
from channels.meta.webhook import decode, handshake, signed_event
from channels.outbound import HttpAdapter
from channels.sms.mms import e164
from channels.webhooks import receive_by_direction, touchpoint_of
from channels.whatsapp import content
from channels.whatsapp.countries import blocked_country
from channels.whatsapp.events import Event, Status, Value
from gateway import protocol as p
from gateway.errors import InvalidInput, NotFound
from gateway.model.inbound import DeliveryReport, InboundFile, InboundMessage
from gateway.model.records import Conversation, Message, Touchpoint
from gateway.services.deliveries import Outcome, failed, sent
from gateway.services.notify import ContactNote

log = logging.getLogger("gateway.whatsapp")

# What the agent reads for the Cloud API's errors (send answers and failed statuses).
REASONS: dict[int, str] = {
    131047: "the 24-hour WhatsApp session window had closed (error 131047): only the contact"
    " can reopen it",
    131026: "WhatsApp could not deliver it: the number may not use WhatsApp (error 131026)",
    131051: "WhatsApp does not support this kind of message (error 131051)",
    131052: "WhatsApp could not download the media (error 131052)",
    131053: "WhatsApp could not upload the media (error 131053)",
    130472: "WhatsApp held it back: the contact is part of an experiment (error 130472)",
    190: "WhatsApp refused this touchpoint's access token (error 190)",
}
TOKEN = AccessToken(
    "WhatsApp",
    "access_token",
    "access token",
    "set a valid system user token in the touchpoint's settings",
)


# Between a message's reference (``<conversation>.<seq>``) and the number of one of its
# parts, in ``biz_opaque_callback_data``, for each part a delivery sends before its
# last (the last one's statuses are the message's).
PART = "~"


class WhatsAppChannel(HttpAdapter):
    name = "whatsapp"
    # an agent's file goes out as a media message Meta fetches by link (channels/media.py)
    delivers_files = True
    secret_settings = ("access_token", *meta.SECRETS)

    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        others = [t for t in self.core.directory.touchpoints.values() if t.channel == "whatsapp"]
        settings, problems = meta.check(
            tp, "phone_number_id", "access_token", ("number",), others, "phone number id"
        )
        number = e164(str(settings.get("number", "")))
        if number is None:
            problems.append(("settings.number", "the business number in E.164, e.g. +15551234567"))
        else:
            settings["number"] = number
        return msgspec.structs.replace(tp, settings=settings), problems

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/webhooks/whatsapp/{touchpoint_id}", self.subscribe, methods=["GET"]),
            Route("/webhooks/whatsapp/{touchpoint_id}", self.events, methods=["POST"]),
        ]

    # -- inbound ---------------------------------------------------------------------------
    async def subscribe(self, request: Request) -> Response:
        return handshake(request, touchpoint_of(self.core.directory, request, "whatsapp"))

    async def events(self, request: Request) -> Response:
        tp = touchpoint_of(self.core.directory, request, "whatsapp")
        event: Event = await signed_event(request, self.core.settings, tp, Event)
        if event.object != "whatsapp_business_account":
            raise NotFound("not a WhatsApp Business Account event")
        # Every message of the batch decoded and read before anything is stored: a
        # malformed one is the webhook's error, never half of the webhook stored. Other
        # fields the app is subscribed to (quality, template status, ...) are skipped.
        batch: list[tuple[Value, list[content.Read]]] = []
        for i, entry in enumerate(event.entry):
            for j, change in enumerate(entry.changes):
                raw = bytes(change.value)
                if change.field != "messages" or raw in (b"", b"null"):
                    continue
                at = f"entry[{i}].changes[{j}].value"
                value: Value = decode(raw, Value, at)
                batch.append(
                    (value, [_read(m, f"{at}.messages[{k}]") for k, m in enumerate(value.messages)])
                )
        for value, reads in batch:
            await self._value(tp, value, reads)
        return Response(status_code=200)

    async def _value(self, signer: Touchpoint, value: Value, reads: list[content.Read]) -> None:
        tps = self.core.directory.touchpoints.values()
        tp = meta.of_app(tps, signer, "whatsapp", "phone_number_id", value.metadata.phone_number_id)
        if tp is None:
            log.warning("WhatsApp event for an unknown phone number id: ignored")
            return
        names = {c.wa_id: c.profile.name for c in value.contacts}
        if value.messages and not tp.active:
            # skipped, not refused: one inactive number must not fail the batch it
            # shares with other numbers (Meta would retry it all)
            log.warning("WhatsApp messages for inactive touchpoint %s: ignored", tp.id)
        else:
            for message, read in zip(value.messages, reads, strict=True):
                try:
                    await self._message(tp, message, read, names)
                except InvalidInput as exc:
                    # one message no provider sends (an id or a text past what the core
                    # takes) must not fail the batch: Meta would retry all of it for days
                    log.warning("WhatsApp message on %s not taken: %s", tp.id, exc)
        for status in value.statuses:
            await self._status(tp, status)

    async def _message(
        self, tp: Touchpoint, message: dict[str, Any], read: content.Read, names: dict[str, str]
    ) -> None:
        wa_id, wamid = str(message.get("from", "")), str(message.get("id", ""))
        if not wa_id.isdigit() or not wamid:
            log.warning("WhatsApp message without a sender or an id: ignored")
            return
        country = blocked_country(wa_id)
        if country is not None:
            # WhatsApp lets no business talk to numbers of these countries: nothing is
            # stored, nothing answered; the log says why (never the whole number).
            log.warning(
                "WhatsApp message refused at intake on touchpoint %s: the contact's number"
                " (+%s…) is from %s, a country WhatsApp blocks for businesses",
                tp.id,
                wa_id[:4],
                country,
            )
            return
        timestamp = str(message.get("timestamp", ""))
        fields = {"phone": f"+{wa_id}", "name": names.get(wa_id, "")}
        files: tuple[InboundFile, ...] = ()
        if read.medium is not None:
            m = read.medium
            files = (
                InboundFile(
                    name=m.filename or f"whatsapp-{m.kind}",
                    open=self._media(tp, m.media_id),
                    content_type=m.mime_type,
                ),
            )
        await receive_by_direction(
            self.core,
            tp,
            InboundMessage(
                touchpoint_id=tp.id,
                address=wa_id,
                provider_message_id=wamid,
                body=read.text,
                fields=fields,
                sent_at=min(float(timestamp), self.core.clock()) if timestamp.isdigit() else None,
                files=files,
                unsupported=(read.unsupported,) if read.unsupported else (),
            ),
        )

    def _media(self, tp: Touchpoint, media_id: str) -> Open:
        """A contact's medium: its id gives a short-lived URL (``GET /{media id}``), whose
        bytes need the access token too."""
        http = self.http
        auth = {"Authorization": f"Bearer {tp.settings.get('access_token', '')}"}

        async def chunks() -> AsyncIterator[bytes]:
            try:
                r = await http.get(meta.graph_url(tp, media_id), headers=auth)
                url = r.json().get("url", "") if r.status_code == 200 else ""
            except (httpx.HTTPError, ValueError, AttributeError):
                raise OSError("WhatsApp could not be reached for the medium") from None
            if not isinstance(url, str) or not http_url(url):
                raise OSError(f"WhatsApp did not give the medium ({r.status_code})")
            async for chunk in download(http, url, "WhatsApp", headers=auth)():
                yield chunk

        return chunks

    async def _status(self, tp: Touchpoint, status: Status) -> None:
        if status.status not in ("sent", "delivered", "read", "failed"):
            return
        ref, _, part = status.biz_opaque_callback_data.partition(PART)
        if part and status.status != "failed":
            # An earlier part of a message sent in parts: the message's statuses are its
            # last part's. Taken for the message's, this one's "sent" would end the
            # delivery job while a later part still waits for a retry.
            return
        target = await self._target(tp, ref)
        if target is None:
            msg = await self.core.deliveries.by_provider_id(status.id, tp.id)
            target = (msg.conversation_id, msg.seq) if msg else None
        if target is None:
            log.info("status of an unknown WhatsApp message on touchpoint %s", tp.id)
            return
        reason = ""
        if status.status == "failed":
            code = status.errors[0].get("code") if status.errors else None
            reason = (
                REASONS.get(code, f"WhatsApp did not deliver it (error {code})")
                if isinstance(code, int)
                else "WhatsApp did not deliver it"
            )
            if part:
                reason = f"part {part} of the message: {reason}"
            # kept first: a replay of the message sends this part again (and only the
            # parts that failed so), even when the message fails before it is recorded
            await outbound.part_failed(self.core, target[0], status.id)
        await self.core.deliveries.report(
            DeliveryReport(
                conversation_id=target[0],
                seq=target[1],
                status=status.status,  # type: ignore[arg-type]
                reason=reason,
                provider_id=status.id,
            )
        )

    async def _target(self, tp: Touchpoint, ref: str) -> tuple[str, int] | None:
        """The message a status names in ``biz_opaque_callback_data`` (set at sending)."""
        conv_id, _, seq = ref.rpartition(".")
        if not conv_id or not seq.isdigit():
            return None
        try:
            conv = await self.core.conversations.get(conv_id)
        except NotFound:
            return None
        return (conv.id, int(seq)) if conv.touchpoint_id == tp.id else None

    # -- outbound --------------------------------------------------------------------------
    async def check_outbound(self, conv: Conversation) -> None:
        await self.core.windows.check_open(conv)

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        if tp is None or tp.channel != "whatsapp":
            return failed("the touchpoint of this conversation no longer exists")
        if unusable := await TOKEN.unusable(self.core, tp, conv):
            return unusable
        left = await self.core.windows.left(conv)
        if left is not None and left[1] <= 0:
            return failed(REASONS[131047])
        files = [
            (public_link(self.core, conv, a.id), a.content_type, a.name)
            for a in message.attachments
        ]
        parts = content.parts(message.body, files)

        async def send(index: int, final: bool) -> Outcome:
            # the statuses of each part but the last one this delivery sends name it
            # (see _status): the final part's statuses are the message's
            ref = f"{conv.id}.{message.seq}"
            if not final:
                ref += f"{PART}{index + 1}"
            return await self._send(tp, conv, ref, parts[index])

        return await outbound.parts_of(self.core, conv, message, len(parts), send)

    async def _send(
        self, tp: Touchpoint, conv: Conversation, ref: str, part: dict[str, Any]
    ) -> Outcome:
        answer = await outbound.post(
            self.http,
            "WhatsApp",
            meta.graph_url(tp, f"{tp.settings.get('phone_number_id')}/messages"),
            headers={"Authorization": f"Bearer {TOKEN.of(tp)}"},
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": conv.address,
                **part,
                "biz_opaque_callback_data": ref,
            },
        )
        if not isinstance(answer, httpx.Response):
            return answer
        if answer.status_code == 200:
            try:
                return sent(str(answer.json()["messages"][0]["id"]))
            except (ValueError, KeyError, IndexError, TypeError):
                return failed("WhatsApp answered without a message id", retryable=True)
        outcome, code = outcome_of_error(answer, REASONS, "WhatsApp")
        await TOKEN.answered(self.core, tp, conv, code)
        return outcome

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Nothing live: messages go out through ``deliver``."""

    async def conversation_state(self, conv: Conversation) -> p.ChannelState:
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        number = str(tp.settings.get("number", "")) if tp else ""
        return await window_state(
            self.core, conv, f"https://wa.me/{number.lstrip('+')}" if number else ""
        )


def _read(message: dict[str, Any], at: str) -> content.Read:
    """What a message says, or the webhook's 422 naming it when its parts are not of
    the Cloud API's types."""
    try:
        return content.read(message)
    except msgspec.ValidationError as exc:
        raise InvalidInput([(at, str(exc))]) from None
