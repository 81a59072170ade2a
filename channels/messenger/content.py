"""What a Messenger message says, both ways, without I/O.

Inbound (:func:`read`): the text, and the attachments as files the adapter downloads
from the URL Meta gives in the (signed) webhook: images, audio, video and files; a
sticker, a location, a shared post or a template cannot be passed on and is named for
the agent's notice.

Outbound (:func:`parts`): the Send API takes one attachment per message, by a URL it
fetches (``{"attachment": {"type": "image", "payload": {"url", "is_reusable"}}}``),
and an attachment has no caption: the text goes first, as a message of its own.
"""

from __future__ import annotations

from typing import Any

import msgspec

FILE_KINDS = ("image", "audio", "video", "file")


class Attachment(msgspec.Struct, frozen=True):
    type: str = "unknown"
    # its shape depends on the type (a file's ``{"url"}``, a sticker's, a location's
    # coordinates, a template's elements): read only as far as it is an object
    payload: Any = None


class Message(msgspec.Struct, frozen=True):
    """A ``messaging`` event's ``message``, typed as far as it is read: a webhook whose
    message has parts of other types is refused whole (400) before anything is stored."""

    mid: str = ""
    text: str | None = None
    is_echo: bool = False
    attachments: list[Attachment] = []


class Medium(msgspec.Struct, frozen=True):
    kind: str
    url: str


class Read(msgspec.Struct, frozen=True):
    text: str
    media: tuple[Medium, ...] = ()
    unsupported: tuple[str, ...] = ()


def read(message: Message) -> Read:
    media: list[Medium] = []
    unsupported: list[str] = []
    for a in message.attachments:
        kind = a.type
        payload: dict[str, Any] = a.payload if isinstance(a.payload, dict) else {}
        url = str(payload.get("url", ""))
        if kind in FILE_KINDS and url and not payload.get("sticker_id"):
            media.append(Medium(kind, url))
        else:
            what = "sticker" if payload.get("sticker_id") else kind
            unsupported.append(
                f"a Messenger {what}, which this gateway cannot show: ask the person to"
                " describe it in text"
            )
    return Read(message.text or "", tuple(media), tuple(unsupported))


def kind_of(content_type: str) -> str:
    """The Send API's attachment type for a file of this type."""
    major = content_type.split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "file"


def parts(body: str, files: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The ``message`` objects to send for a text and its files ((link, type) each)."""
    out: list[dict[str, Any]] = [{"text": body}] if body else []
    for link, ctype in files:
        out.append(
            {"attachment": {"type": kind_of(ctype), "payload": {"url": link, "is_reusable": False}}}
        )
    return out
