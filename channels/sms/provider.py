"""The SMS provider interface: what the SMS adapter (channels/sms/__init__.py) needs of
a provider, so that another provider can follow Twilio (channels/sms/twilio.py)."""

from __future__ import annotations

from typing import Literal, Protocol

import httpx
import msgspec

from gateway.model.records import Touchpoint
from gateway.services.deliveries import Outcome

# What the gateway does about a provider's error besides failing the message: record
# the contact's opt-out (the provider knew first), or tell the admins (the touchpoint's
# number or account needs their action).
Action = Literal["", "opted_out", "notify_admins"]


class Media(msgspec.Struct, frozen=True):
    url: str
    content_type: str


class InboundSms(msgspec.Struct, frozen=True, kw_only=True):
    provider_message_id: str
    from_number: str
    to_number: str
    body: str
    media: list[Media] = []


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    provider_message_id: str
    # the gateway's delivery states; "" for a provider state that changes nothing
    # (queued, sending, accepted)
    status: Literal["", "sent", "delivered", "read", "failed"]
    reason: str = ""
    action: Action = ""
    admin_message: str = ""


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Outcome
    action: Action = ""
    admin_message: str = ""


class SmsProvider(Protocol):
    name: str
    # settings of the touchpoint that are secrets (never read back, never logged)
    secret_settings: tuple[str, ...]

    def check(self, settings: dict[str, object]) -> tuple[dict[str, object], list[tuple[str, str]]]:
        """The provider's settings normalised, and every problem as (field, message)."""
        ...

    def verify(self, tp: Touchpoint, url: str, body: bytes, signature: str) -> dict[str, str]:
        """The webhook's parameters, once its signature is checked (Forbidden if not)."""
        ...

    def inbound(self, params: dict[str, str]) -> InboundSms:
        """A contact's message (InvalidInput when a field is missing)."""
        ...

    def status(self, params: dict[str, str]) -> StatusReport: ...

    async def send(
        self,
        http: httpx.AsyncClient,
        tp: Touchpoint,
        to: str,
        body: str,
        status_callback: str,
        media_urls: list[str],
    ) -> SendResult:
        """Send ``body`` (and the media the provider fetches from ``media_urls``);
        ``status_callback`` "" asks for no statuses (an untracked send)."""
        ...
