"""Attachments as data: the file types the gateway knows, and what each channel accepts.

A type is known by its MIME name; the gateway finds it in a file's content
(gateway/services/file_check.py), never in the name or the client's word. Each channel
has one rule: the types it takes with the largest file of each, how many files one
message may carry and their largest total. The figures are the providers' documented
limits (the ``source`` of each rule), the reference product's for email, and the
operator's for chat (``GATEWAY_CHAT_ATTACHMENT_TYPES``,
``GATEWAY_CHAT_ATTACHMENT_MAX_BYTES``). docs/attachments.md shows this table; a test
keeps the two equal.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from gateway.errors import ConfigError
from gateway.model.channels import CHANNELS, ChannelName

MB: Final = 1024 * 1024
KB: Final = 1024
Kind = Literal["image", "audio", "video", "document", "text"]


class FileType(msgspec.Struct, frozen=True, kw_only=True):
    mime: str
    label: str
    # the first is the one given to a name without a known extension
    extensions: tuple[str, ...]
    kind: Kind
    # a raster image a browser may show inline; everything else is only downloaded
    inline: bool = False


def _t(mime: str, label: str, exts: str, kind: Kind, inline: bool = False) -> FileType:
    return FileType(
        mime=mime, label=label, extensions=tuple(exts.split()), kind=kind, inline=inline
    )


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"

FILE_TYPES: Final[dict[str, FileType]] = {
    t.mime: t
    for t in (
        _t("image/jpeg", "JPEG image", "jpg jpeg jfif", "image", True),
        _t("image/png", "PNG image", "png", "image", True),
        _t("image/gif", "GIF image", "gif", "image", True),
        _t("image/webp", "WebP image", "webp", "image", True),
        _t("image/bmp", "BMP image", "bmp", "image", True),
        _t("image/svg+xml", "SVG image", "svg", "image"),
        _t("application/pdf", "PDF document", "pdf", "document"),
        _t("application/msword", "Word document", "doc", "document"),
        _t("application/vnd.ms-excel", "Excel spreadsheet", "xls", "document"),
        _t("application/vnd.ms-powerpoint", "PowerPoint presentation", "ppt", "document"),
        _t("application/vnd.ms-outlook", "Outlook message", "msg", "document"),
        _t(DOCX, "Word document", "docx", "document"),
        _t(XLSX, "Excel spreadsheet", "xlsx", "document"),
        _t(PPTX, "PowerPoint presentation", "pptx", "document"),
        _t(ODT, "OpenDocument text", "odt", "document"),
        _t(ODS, "OpenDocument spreadsheet", "ods", "document"),
        _t(ODP, "OpenDocument presentation", "odp", "document"),
        _t("application/zip", "ZIP archive", "zip", "document"),
        _t("text/plain", "text", "txt text log", "text"),
        _t("text/csv", "CSV table", "csv", "text"),
        _t("text/html", "HTML page", "html htm", "text"),
        _t("message/rfc822", "email message", "eml", "text"),
        _t("audio/mpeg", "MP3 audio", "mp3", "audio"),
        _t("audio/mp4", "MPEG-4 audio", "m4a", "audio"),
        _t("audio/aac", "AAC audio", "aac", "audio"),
        _t("audio/ogg", "Ogg audio", "ogg oga opus", "audio"),
        _t("audio/amr", "AMR audio", "amr", "audio"),
        _t("audio/wav", "WAV audio", "wav", "audio"),
        _t("video/mp4", "MP4 video", "mp4 m4v", "video"),
        _t("video/quicktime", "QuickTime video", "mov qt", "video"),
        _t("video/x-msvideo", "AVI video", "avi", "video"),
        _t("video/3gpp", "3GP video", "3gp", "video"),
        _t("video/webm", "WebM video", "webm", "video"),
    )
}
BY_EXTENSION: Final[dict[str, str]] = {
    ext: t.mime for t in FILE_TYPES.values() for ext in t.extensions
}


class TypeLimit(msgspec.Struct, frozen=True, kw_only=True):
    """These types, each file at most ``max_bytes``."""

    types: tuple[str, ...]
    max_bytes: int


class AttachmentRule(msgspec.Struct, frozen=True, kw_only=True):
    """What one channel accepts."""

    channel: ChannelName
    limits: tuple[TypeLimit, ...]
    # per message
    max_files: int
    max_total_bytes: int
    # only for contacts whose phone number is of one of these regions (ISO 3166)
    regions: tuple[str, ...] = ()
    source: str = ""

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(t for limit in self.limits for t in limit.types)

    @property
    def max_file_bytes(self) -> int:
        return max(limit.max_bytes for limit in self.limits)

    def limit_for(self, mime: str) -> TypeLimit | None:
        for limit in self.limits:
            if mime in limit.types:
                return limit
        return None

    def allowed_names(self) -> list[str]:
        """The accepted types as a person names them: their extensions."""
        return [FILE_TYPES[m].extensions[0] for m in self.types]


def _types(names: str) -> tuple[str, ...]:
    """MIME names from extensions or MIME names, separated by spaces or commas."""
    out: list[str] = []
    for name in names.replace(",", " ").split():
        mime = name if name in FILE_TYPES else BY_EXTENSION.get(name.lower().lstrip("."))
        if mime is None:
            raise ValueError(name)
        if mime not in out:
            out.append(mime)
    return tuple(out)


IMAGES = "jpg png gif"
OFFICE = "doc docx xls xlsx ppt pptx"
# The reference product's list for email (docs/attachments.md quotes it).
EMAIL_TYPES = f"{OFFICE} pdf jpg png gif txt bmp html mp4 mp3 avi mov ods csv msg eml"

RULES: Final[dict[str, AttachmentRule]] = {
    r.channel: r
    for r in (
        AttachmentRule(
            channel="sms",
            limits=(TypeLimit(types=_types(f"{IMAGES} pdf mp3 mp4"), max_bytes=5 * MB),),
            max_files=10,
            max_total_bytes=5 * MB,
            regions=("US", "CA", "AU"),
            source="MMS as Twilio documents it: up to 10 media and 5 MB per message; "
            "JPEG, PNG and GIF are resized for the handset, other types sent as they are. "
            "MMS only between US, Canadian and Australian numbers (the reference, FAQ 57).",
        ),
        AttachmentRule(
            channel="whatsapp",
            limits=(
                TypeLimit(types=_types("jpg png"), max_bytes=5 * MB),
                TypeLimit(types=_types("webp"), max_bytes=500 * KB),
                TypeLimit(types=_types("aac amr mp3 m4a ogg"), max_bytes=16 * MB),
                TypeLimit(types=_types("mp4 3gp"), max_bytes=16 * MB),
                TypeLimit(types=_types(f"txt pdf {OFFICE}"), max_bytes=100 * MB),
            ),
            max_files=1,
            max_total_bytes=100 * MB,
            source="The WhatsApp Business Platform's supported media: images 5 MB, "
            "stickers (WebP) 500 KB, audio and video 16 MB, documents 100 MB; one medium "
            "per message.",
        ),
        AttachmentRule(
            channel="messenger",
            limits=(
                TypeLimit(
                    types=_types(f"{IMAGES} mp3 m4a aac mp4 mov pdf txt {OFFICE}"),
                    max_bytes=25 * MB,
                ),
            ),
            max_files=1,
            max_total_bytes=25 * MB,
            source="The Messenger Platform's Send API: one attachment (image, audio, "
            "video or file) per message, at most 25 MB.",
        ),
        AttachmentRule(
            channel="email",
            limits=(TypeLimit(types=_types(EMAIL_TYPES), max_bytes=25 * MB),),
            max_files=20,
            max_total_bytes=25 * MB,
            source="The reference product (FAQ 70): these types, 25 MB in total.",
        ),
        AttachmentRule(
            channel="api",
            limits=(TypeLimit(types=_types(EMAIL_TYPES + " webp"), max_bytes=25 * MB),),
            max_files=10,
            max_total_bytes=25 * MB,
            source="Our choice: what email carries (and WebP images), so that an "
            "integration can pass on what the other channels receive.",
        ),
    )
}


def chat_rule(types: str, max_bytes: int, *, max_files: int = 10) -> AttachmentRule:
    """Chat's rule from the settings; ConfigError names a type the gateway does not know."""
    try:
        mimes = _types(types)
    except ValueError as exc:
        known = " ".join(sorted(BY_EXTENSION))
        raise ConfigError(
            f"GATEWAY_CHAT_ATTACHMENT_TYPES: unknown file type {exc.args[0]!r}; known: {known}"
        ) from None
    return AttachmentRule(
        channel="chat",
        limits=(TypeLimit(types=mimes, max_bytes=max_bytes),) if mimes else (),
        max_files=max_files if mimes else 0,
        max_total_bytes=max_files * max_bytes if mimes else 0,
        source="The operator's: GATEWAY_CHAT_ATTACHMENT_TYPES and "
        "GATEWAY_CHAT_ATTACHMENT_MAX_BYTES.",
    )


def rules(chat: AttachmentRule) -> dict[str, AttachmentRule]:
    """Every channel's rule, chat's as configured; a channel without attachments has
    none (and a channel table that says it has them must have one)."""
    out = {"chat": chat, **RULES}
    for spec in CHANNELS.values():
        if spec.attachments != (spec.name in out):  # pragma: no cover - a programming error
            raise RuntimeError(f"attachment rules and the channel table disagree: {spec.name}")
    return out
