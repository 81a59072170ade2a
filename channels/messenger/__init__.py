"""Messenger through Meta's Messenger Platform: a touchpoint is a Facebook page, and a
page can be connected to one touchpoint only.

Meta posts the page's events to ``/webhooks/messenger/{touchpoint_id}`` (after the
``GET`` subscription handshake), signed with the app secret: people's messages, and
``delivery`` and ``read`` receipts of what the page sent. A person shows by their
profile name (fetched from the Graph API on their first message). Agents may write
within the 7-day window the person's last message opened. docs/channels/messenger.md.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from channels import outbound
from channels.base import Problems
from channels.media import download, http_url, name_from_url, public_link
from channels.messenger import content
from channels.meta import settings as meta
from channels.meta.graph import outcome_of_error
from channels.meta.state import window_state
from channels.meta.token import AccessToken
from channels.meta.webhook import handshake, signed_event
from channels.outbound import HttpAdapter
from channels.webhooks import receive_by_direction, touchpoint_of
from gateway import protocol as p
from gateway.errors import InvalidInput, NotFound
from gateway.model.inbound import DeliveryReport, InboundFile, InboundMessage
from gateway.model.records import Conversation, Message, Touchpoint
from gateway.services.deliveries import Outcome, failed, sent
from gateway.services.notify import ContactNote

log = logging.getLogger("gateway.messenger")

# How long one webhook's delivery receipts may wait, in all, for the record of their
# sends (seconds; Meta wants its webhooks answered within a few seconds).
RECEIPT_WAIT = 2.0
REASONS: dict[int, str] = {
    2018278: "the 7-day Messenger window had closed: only the person can reopen it",
    2018001: "Messenger knows no such person for this page",
    551: "this person is not available on Messenger now (error 551)",
    190: "Messenger refused this touchpoint's page access token (error 190)",
}
TOKEN = AccessToken(
    "Messenger",
    "page_access_token",
    "page access token",
    "reconnect the page and set its new token in the touchpoint's settings",
)


class Party(msgspec.Struct, frozen=True):
    id: str


class Delivery(msgspec.Struct, frozen=True):
    mids: list[str] = []
    watermark: int = 0


class Watermark(msgspec.Struct, frozen=True):
    watermark: int = 0


class Messaging(msgspec.Struct, frozen=True):
    sender: Party
    recipient: Party
    timestamp: int = 0
    message: content.Message | None = None
    delivery: Delivery | None = None
    read: Watermark | None = None


class Entry(msgspec.Struct, frozen=True):
    id: str
    messaging: list[Messaging] = []


class Event(msgspec.Struct, frozen=True):
    object: str
    entry: list[Entry]


class MessengerChannel(HttpAdapter):
    name = "messenger"
    # an agent's file goes out as an attachment Meta fetches by link (channels/media.py)
    delivers_files = True
    secret_settings = ("page_access_token", *meta.SECRETS)

    def check_touchpoint(self, tp: Touchpoint) -> tuple[Touchpoint, Problems]:
        others = [t for t in self.core.directory.touchpoints.values() if t.channel == "messenger"]
        settings, problems = meta.check(
            tp, "page_id", "page_access_token", ("page_name",), others, "Facebook page id"
        )
        return msgspec.structs.replace(tp, settings=settings), problems

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/webhooks/messenger/{touchpoint_id}", self.subscribe, methods=["GET"]),
            Route("/webhooks/messenger/{touchpoint_id}", self.events, methods=["POST"]),
        ]

    # -- inbound ---------------------------------------------------------------------------
    async def subscribe(self, request: Request) -> Response:
        return handshake(request, touchpoint_of(self.core.directory, request, "messenger"))

    async def events(self, request: Request) -> Response:
        tp = touchpoint_of(self.core.directory, request, "messenger")
        event: Event = await signed_event(request, self.core.settings, tp, Event)
        if event.object != "page":
            raise NotFound("not a page event")
        deadline = time.monotonic() + RECEIPT_WAIT
        for entry in event.entry:
            tps = self.core.directory.touchpoints.values()
            page = meta.of_app(tps, tp, "messenger", "page_id", entry.id)
            if page is None:
                log.warning("Messenger event for a page no touchpoint of this app has: ignored")
                continue
            for item in entry.messaging:
                await self._item(page, item, deadline)
        return Response(status_code=200)

    async def _item(self, tp: Touchpoint, item: Messaging, deadline: float) -> None:
        psid = item.sender.id
        if item.message is not None and not item.message.is_echo:
            if not tp.active:
                # skipped, not refused: one inactive page must not fail the batch of
                # events it shares with other pages (Meta would retry them all)
                log.warning("Messenger message for inactive touchpoint %s: ignored", tp.id)
                return
            try:
                await self._message(tp, psid, item)
            except InvalidInput as exc:
                # one message no provider sends (an id or a text past what the core
                # takes) must not fail the batch: Meta would retry all of it for days
                log.warning("Messenger message on %s not taken: %s", tp.id, exc)
        elif item.delivery is not None:
            for mid in item.delivery.mids:
                # a receipt may overtake the record of the send: wait a little for it
                wait = max(0.0, deadline - time.monotonic())
                msg = await self.core.deliveries.by_provider_id(str(mid), tp.id, wait=wait)
                if msg is not None:
                    await self.core.deliveries.report(
                        DeliveryReport(
                            conversation_id=msg.conversation_id, seq=msg.seq, status="delivered"
                        )
                    )
        elif item.read is not None:
            conv = await self.core.conversations.open_for(tp.id, psid)
            if conv is not None and item.read.watermark > 0:
                await self.core.deliveries.read_until(conv.id, item.read.watermark / 1000)

    async def _message(self, tp: Touchpoint, psid: str, item: Messaging) -> None:
        message = item.message or content.Message()
        mid = message.mid
        if not mid:
            log.warning("Messenger message without an id: ignored")
            return
        read = content.read(message)
        files = tuple(
            InboundFile(
                name=name_from_url(m.url, f"messenger-{m.kind}"),
                # Meta's CDN link is signed in its URL: no credential goes with it
                open=download(self.http, m.url, "Messenger", follow_redirects=True),
            )
            for m in read.media
            if http_url(m.url)
        )
        fields = {"name": await self._profile_name(tp, psid)}
        at = item.timestamp / 1000 if item.timestamp else None
        await receive_by_direction(
            self.core,
            tp,
            InboundMessage(
                touchpoint_id=tp.id,
                address=psid,
                provider_message_id=mid,
                body=read.text,
                fields=fields,
                sent_at=min(at, self.core.clock()) if at else None,
                files=files,
                unsupported=read.unsupported,
            ),
        )

    async def _profile_name(self, tp: Touchpoint, psid: str) -> str:
        """The person's name from their Messenger profile, the first time they write
        (later, the contact has it); "" when the Graph API does not say."""
        contact = await self.core.contacts.at("messenger", psid)
        if contact is not None and contact.name:
            return contact.name
        try:
            r = await self.http.get(
                meta.graph_url(tp, psid),
                params={
                    "fields": "first_name,last_name",
                    "access_token": str(tp.settings.get("page_access_token", "")),
                },
            )
            data = r.json() if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            data = {}
        if not isinstance(data, dict):
            return ""
        return " ".join(str(data.get(k, "")) for k in ("first_name", "last_name")).strip()

    # -- outbound --------------------------------------------------------------------------
    async def check_outbound(self, conv: Conversation) -> None:
        await self.core.windows.check_open(conv)

    async def deliver(self, conv: Conversation, message: Message) -> Outcome:
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        if tp is None or tp.channel != "messenger":
            return failed("the touchpoint of this conversation no longer exists")
        if unusable := await TOKEN.unusable(self.core, tp, conv):
            return unusable
        left = await self.core.windows.left(conv)
        if left is not None and left[1] <= 0:
            return failed(REASONS[2018278])
        files = [(public_link(self.core, conv, a.id), a.content_type) for a in message.attachments]
        parts = content.parts(message.body, files)

        async def send(index: int) -> Outcome:
            return await self._send(tp, conv, parts[index])

        return await outbound.in_parts(self.core, conv, message, len(parts), send)

    async def _send(self, tp: Touchpoint, conv: Conversation, part: dict[str, Any]) -> Outcome:
        answer = await outbound.post(
            self.http,
            "Messenger",
            meta.graph_url(tp, "me/messages"),
            params={"access_token": TOKEN.of(tp)},
            json={"recipient": {"id": conv.address}, "messaging_type": "RESPONSE", "message": part},
        )
        if not isinstance(answer, httpx.Response):
            return answer
        if answer.status_code == 200:
            try:
                return sent(str(answer.json()["message_id"]))
            except (ValueError, KeyError, TypeError):
                return failed("Messenger answered without a message id", retryable=True)
        outcome, code = outcome_of_error(answer, REASONS, "Messenger")
        await TOKEN.answered(self.core, tp, conv, code)
        return outcome

    async def to_contact(self, conv: Conversation, note: ContactNote) -> None:
        """Nothing live: messages go out through ``deliver``."""

    async def conversation_state(self, conv: Conversation) -> p.ChannelState:
        tp = self.core.directory.touchpoints.get(conv.touchpoint_id)
        handle = str(tp.settings.get("page_name") or tp.settings.get("page_id", "")) if tp else ""
        return await window_state(self.core, conv, f"https://m.me/{handle}" if handle else "")
