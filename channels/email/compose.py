"""Outbound email, built with the standard library's modern email API: the headers a
customer's client threads by, the text and HTML parts, the signature with its inline
images, and the marks an auto-reply carries.

The Message-ID of a message the gateway sends is derived from its conversation and
sequence number (:func:`outbound_message_id`): the same message gets the same id on
every attempt, so a retry after a crash is recognisable (by the Sent folder, and by the
recipient's client).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html as _html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, localtime

import msgspec

from channels.email.html import html_to_text, sanitise, text_to_html
from channels.email.mime import format_address

MAX_SIGNATURE_IMAGE = 50 * 1024
# The reference's signature image types, by their magic bytes.
_IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/bmp": (b"BM",),
}
_DATA_IMG = re.compile(r'src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=\s]+)"', re.IGNORECASE)
_VARIABLE = re.compile(r"\{\{\s*(agent|contact|touchpoint)\.(name|email|phone)\s*\}\}")


class Outgoing(msgspec.Struct, frozen=True, kw_only=True):
    """What one outbound email says, before it becomes MIME."""

    from_addr: str
    from_name: str = ""
    to: list[str]
    cc: list[str] = []
    bcc: list[str] = []
    subject: str = ""
    # sanitised HTML of what the agent (or the auto-reply) wrote; the text part is
    # derived from it when ``text`` is empty
    html: str = ""
    text: str = ""
    message_id: str
    in_reply_to: str = ""
    references: list[str] = []
    auto_reply: bool = False
    # sanitised signature HTML, appended below the message
    signature_html: str = ""


def outbound_message_id(conversation_id: str, seq: int, address: str) -> str:
    """The stable Message-ID of the conversation's message ``seq``, at the touchpoint's
    domain."""
    domain = address.rpartition("@")[2] or "gateway.invalid"
    digest = hashlib.sha256(f"{conversation_id}/{seq}".encode()).hexdigest()[:16]
    return f"<{conversation_id}.{seq}.{digest}@{domain}>"


def reply_subject(subject: str) -> str:
    """``Re: subject``, without stacking prefixes."""
    subject = subject.strip()
    if re.match(r"(?i)^(re|aw|sv|antw)\s*:", subject):
        return subject
    return f"Re: {subject}" if subject else "Re: your message"


def forward_subject(subject: str) -> str:
    subject = subject.strip()
    return subject if re.match(r"(?i)^(fwd?|wg)\s*:", subject) else f"Fwd: {subject}"


def thread_headers(parent_id: str, parent_refs: list[str]) -> tuple[str, list[str]]:
    """(In-Reply-To, References) of a reply to ``parent_id`` (RFC 5322 section 3.6.4):
    the parent's References (at most the last 20, as long threads are trimmed by
    clients too) followed by the parent."""
    if not parent_id:
        return "", []
    refs = [r for r in parent_refs if r != parent_id][-20:]
    return parent_id, [*refs, parent_id]


def fill_variables(html: str, values: dict[str, str]) -> str:
    """Replace ``{{agent.name}}``, ``{{contact.email}}``, ... with escaped values
    (unknown ones become empty)."""
    return _VARIABLE.sub(lambda m: _html.escape(values.get(f"{m[1]}.{m[2]}", "")), html)


def check_signature_images(html: str) -> list[str]:
    """Problems with the signature's uploaded (data:) images: type JPG, JPEG, GIF, PNG or
    BMP by their bytes, each under 50 KB. Images by URL are the admin's to host."""
    problems = []
    for i, (_ctype, data) in enumerate(_DATA_IMG.findall(html), 1):
        try:
            raw = base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"image {i} is not valid base64")
            continue
        kind = next(
            (k for k, magics in _IMAGE_MAGIC.items() if raw.startswith(magics)),
            None,
        )
        if kind is None:
            problems.append(f"image {i} is not a JPG, GIF, PNG or BMP image")
        elif len(raw) >= MAX_SIGNATURE_IMAGE:
            problems.append(f"image {i} is {len(raw)} bytes; images must be under 50 KB")
    return problems


def _inline_images(html: str, message_id: str) -> tuple[str, list[tuple[str, str, bytes]]]:
    """data: images as cid: references, and the parts to attach (cid, type, bytes)."""
    parts: list[tuple[str, str, bytes]] = []
    local = message_id.strip("<>")

    def swap(m: re.Match[str]) -> str:
        try:
            raw = base64.b64decode("".join(m[2].split()), validate=True)
        except (binascii.Error, ValueError):
            return 'src=""'
        cid = f"img{len(parts) + 1}.{local}"
        parts.append((cid, m[1].lower(), raw))
        return f'src="cid:{cid}"'

    return _DATA_IMG.sub(swap, html), parts


# A file the agent attached: (name, content type, bytes).
File = tuple[str, str, bytes]


def build(out: Outgoing, *, now: float | None = None, files: Sequence[File] = ()) -> EmailMessage:
    """The MIME message: multipart/alternative (text, HTML), the HTML in a
    multipart/related with the inline images when there are some, then the agent's
    files as attachments (multipart/mixed). Bcc is never a header: it is only an
    envelope recipient (:func:`recipients`)."""
    msg = EmailMessage()
    msg["From"] = format_address(out.from_addr, out.from_name)
    msg["To"] = ", ".join(out.to)
    if out.cc:
        msg["Cc"] = ", ".join(out.cc)
    msg["Subject"] = out.subject
    msg["Date"] = format_datetime(localtime() if now is None else datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = out.message_id
    if out.in_reply_to:
        msg["In-Reply-To"] = out.in_reply_to
    if out.references:
        msg["References"] = " ".join(out.references)
    if out.auto_reply:
        # RFC 3834: never answered by another responder
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Precedence"] = "auto_reply"
    body_html = out.html or text_to_html(out.text)
    if out.signature_html:
        body_html += '<div class="signature">' + out.signature_html + "</div>"
    body_html = sanitise(body_html)
    body_html, images = _inline_images(body_html, out.message_id)
    text = out.text or html_to_text(out.html)
    if out.signature_html:
        text = f"{text}\n\n-- \n{html_to_text(out.signature_html)}"
    msg.set_content(text)
    msg.add_alternative(f"<!DOCTYPE html><html><body>{body_html}</body></html>", subtype="html")
    if images:
        html_part = msg.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        for cid, ctype, raw in images:
            main, sub = ctype.split("/", 1)
            html_part.add_related(raw, maintype=main, subtype=sub, cid=f"<{cid}>")
    for name, ctype, data in files:
        main, _, sub = ctype.partition("/")
        msg.add_attachment(data, maintype=main, subtype=sub or "octet-stream", filename=name)
    return msg


def recipients(out: Outgoing) -> list[str]:
    """The envelope recipients: To, Cc and Bcc, each once."""
    return list(dict.fromkeys([*out.to, *out.cc, *out.bcc]))
