"""The WhatsApp Cloud API's webhook payload, as far as the gateway reads it."""

from __future__ import annotations

from typing import Any

import msgspec


class Profile(msgspec.Struct, frozen=True):
    name: str = ""


class ContactInfo(msgspec.Struct, frozen=True):
    wa_id: str
    profile: Profile = Profile()


class Status(msgspec.Struct, frozen=True):
    id: str
    status: str
    recipient_id: str = ""
    biz_opaque_callback_data: str = ""
    errors: list[dict[str, Any]] = []


class Metadata(msgspec.Struct, frozen=True):
    phone_number_id: str
    display_phone_number: str = ""


class Value(msgspec.Struct, frozen=True):
    metadata: Metadata
    messaging_product: str = "whatsapp"
    contacts: list[ContactInfo] = []
    messages: list[dict[str, Any]] = []
    statuses: list[Status] = []


class Change(msgspec.Struct, frozen=True):
    field: str
    value: Value | None = None


class Entry(msgspec.Struct, frozen=True):
    id: str = ""
    changes: list[Change] = []


class Event(msgspec.Struct, frozen=True):
    object: str
    entry: list[Entry]
