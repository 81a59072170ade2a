"""What a webhook's body says: the public form of conversations, contacts and messages,
the same for automations, bots and the integration API (docs/integration-api.md,
"Events"). Built from plain dicts (the outbox keeps the records as JSON) so that the
stored snapshot and a live record give the same shape."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import msgspec

from gateway.model.integrations import BOT_TARGET_PREFIX
from gateway.model.records import Contact, Conversation, Message
from gateway.services.directory import Directory

CONVERSATION_FIELDS: Final = (
    "id",
    "touchpoint_id",
    "channel",
    "state",
    "direction",
    "subject",
    "contact_id",
    "address",
    "queue_ids",
    "priority",
    "owner_agent_id",
    "bot_id",
    "created_at",
    "arrived_at",
    "ended_at",
    "closed_at",
    "notes",
    "disposition",
    "last_seq",
)


class _EventBody(msgspec.Struct):
    event: str = ""
    agent_name: str = ""


_event_body = msgspec.json.Decoder(_EventBody)


def conversation_view(conv: dict[str, Any] | Conversation) -> dict[str, Any]:
    data = msgspec.to_builtins(conv) if isinstance(conv, Conversation) else conv
    return {name: data.get(name) for name in CONVERSATION_FIELDS}


def contact_view(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.display_name,
        "email": contact.email,
        "phone": contact.phone,
    }


def sender_of(sender: str, sender_id: str) -> str:
    """The public sender: a bot's messages are stored as the system's (sender_id
    ``bot:<id>``) and shown as the bot's."""
    if sender == "system" and sender_id.startswith(BOT_TARGET_PREFIX):
        return "bot"
    return sender


def message_view(
    msg: dict[str, Any] | Message,
    directory: Directory,
    touchpoint_id: str = "",
    contact_name: str = "",
) -> dict[str, Any]:
    """A message; the system writes in the name of the conversation's touchpoint."""
    data = msgspec.to_builtins(msg) if isinstance(msg, Message) else msg
    sender, sender_id = data["sender"], data["sender_id"]
    public = sender_of(sender, sender_id)
    name = contact_name if public == "contact" else ""
    if public == "agent":
        name = directory.agent_name(sender_id)
    elif public == "bot":
        name = directory.touchpoint_name(sender_id.removeprefix(BOT_TARGET_PREFIX))
    elif public == "system":
        name = directory.touchpoint_name(touchpoint_id) if touchpoint_id else ""
    out: dict[str, Any] = {
        "conversation_id": data["conversation_id"],
        "seq": data["seq"],
        "kind": data["kind"],
        "sender": public,
        "sender_id": sender_id,
        "sender_name": name,
        "body": data["body"],
        "created_at": data["created_at"],
        # what the message says of its files (id, name, content_type, size, ...)
        "attachments": data.get("attachments", []),
    }
    if data["kind"] == "event":
        try:
            body = _event_body.decode(data["body"])
        except msgspec.DecodeError:
            body = _EventBody()
        out.update(body="", event=body.event, agent_name=body.agent_name)
    return out


def event_json(
    event_id: str,
    event_type: str,
    created_at: float,
    payload: dict[str, Any],
    directory: Directory,
    contact: Contact | None,
    *,
    console_url: str = "",
) -> bytes:
    """A webhook body: the event's id, type and time, the conversation, its contact and
    whatever the event adds (the message, the assignment, ...). With ``console_url``
    the conversation carries ``history_url``, its transcript in the agents' console (for
    a CRM to link to; an agent signs in to read it)."""
    body: dict[str, Any] = {"id": event_id, "type": event_type, "created_at": created_at}
    for key, value in payload.items():
        if key == "conversation":
            body[key] = conversation_view(value)
            if console_url:
                body[key]["history_url"] = (
                    f"{console_url}#history/{quote(body[key]['id'], safe='')}"
                )
        elif key == "message":
            touchpoint = payload.get("conversation", {}).get("touchpoint_id", "")
            name = contact.display_name if contact is not None else ""
            body[key] = message_view(value, directory, touchpoint, name)
        else:
            body[key] = value
    body["contact"] = contact_view(contact) if contact is not None else None
    return msgspec.json.encode(body)
