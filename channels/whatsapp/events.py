"""The WhatsApp Cloud API's webhook payload, as far as the gateway reads it.

Meta posts every field the app subscribes to on one callback URL
(``phone_number_quality_update``, ``message_template_status_update``, ...), each with a
``value`` of its own shape: a change's value stays raw until its field is known to be
``messages``, the only one read (:class:`Value`)."""

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
    # a :class:`Value` when ``field`` is ``messages``; another field's, unread
    value: msgspec.Raw = msgspec.Raw()


class Entry(msgspec.Struct, frozen=True):
    id: str = ""
    changes: list[Change] = []


class Event(msgspec.Struct, frozen=True):
    object: str
    entry: list[Entry]
