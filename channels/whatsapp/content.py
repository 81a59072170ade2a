"""What a WhatsApp message says, both ways, without I/O.

Inbound (:func:`read`): text, button and interactive replies are text; an image, audio,
video, document or sticker is a medium the adapter fetches by its id (with a caption
as the text, and a document's file name); anything else (a location, a contact card, a
reaction, ...) cannot be passed on and is named for the agent's notice.

Outbound (:func:`parts`): the Cloud API sends one medium per message, by a link it
fetches (``{"type": "image", "image": {"link", "caption"}}``); images, videos and
documents take a caption of up to 1,024 characters, audio and stickers none. A text
that cannot be the caption goes first, as a text message of its own.
"""

from __future__ import annotations

from typing import Any

import msgspec

MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
CAPTIONED = ("image", "video", "document")
MAX_CAPTION = 1024


class Medium(msgspec.Struct, frozen=True):
    kind: str
    media_id: str
    mime_type: str = ""
    filename: str = ""


class Read(msgspec.Struct, frozen=True):
    text: str
    medium: Medium | None = None
    # what the gateway cannot show, in words for the agent ("" when nothing)
    unsupported: str = ""


class _Text(msgspec.Struct, frozen=True):
    body: str = ""


class _Button(msgspec.Struct, frozen=True):
    text: str = ""


class _Choice(msgspec.Struct, frozen=True):
    title: str = ""


class _Interactive(msgspec.Struct, frozen=True):
    button_reply: _Choice | None = None
    list_reply: _Choice | None = None


class _Shape(msgspec.Struct, frozen=True):
    """The parts of a message :func:`read` takes, typed: a message whose parts are of
    another type (``"text": "hi"``) is refused whole, not half read."""

    type: str = ""
    text: _Text | None = None
    button: _Button | None = None
    interactive: _Interactive | None = None


def read(message: dict[str, Any]) -> Read:
    """What the message says; msgspec's ValidationError when its parts are not of
    the Cloud API's types."""
    shape = msgspec.convert(message, _Shape)
    kind = shape.type
    if kind == "text":
        return Read(shape.text.body if shape.text else "")
    if kind == "button":
        return Read(shape.button.text if shape.button else "")
    if kind == "interactive":
        reply = shape.interactive or _Interactive()
        chosen = reply.button_reply or reply.list_reply or _Choice()
        return Read(chosen.title)
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    caption = str(body.get("caption", "")) if body else ""
    if kind in MEDIA_KINDS and body and body.get("id"):
        medium = Medium(
            kind=kind,
            media_id=str(body["id"]),
            mime_type=str(body.get("mime_type", "")),
            filename=str(body.get("filename", "")),
        )
        return Read(caption, medium)
    what = kind or "unknown"
    return Read(
        caption,
        unsupported=f"a WhatsApp {what} message, which this gateway cannot show: ask the"
        " contact to describe it in text",
    )


def kind_of(content_type: str) -> str:
    """The Cloud API's message type for a file of this type."""
    if content_type in ("image/jpeg", "image/png"):
        return "image"
    if content_type == "image/webp":
        return "sticker"
    if content_type.startswith("audio/"):
        return "audio"
    if content_type in ("video/mp4", "video/3gpp"):
        return "video"
    return "document"


def parts(body: str, files: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The messages to send for a text and its files ((link, content type, name) each),
    as the Cloud API's message objects (without recipient and product)."""
    out: list[dict[str, Any]] = []
    caption = body
    if files:
        kind = kind_of(files[0][1])
        if body and (kind not in CAPTIONED or len(body) > MAX_CAPTION):
            out.append(_text(body))
            caption = ""
    elif body:
        out.append(_text(body))
    for i, (link, ctype, name) in enumerate(files):
        kind = kind_of(ctype)
        medium: dict[str, Any] = {"link": link}
        if i == 0 and caption:
            medium["caption"] = caption
        if kind == "document":
            medium["filename"] = name
        out.append({"type": kind, kind: medium})
    return out


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}
