"""An email as the gateway reads it: parsed with the standard library's modern email API
(``policy=default``), bounded, and never trusted.

:func:`parse` turns raw RFC 5322 bytes into a :class:`ParsedEmail`: the addresses and
threading headers, the subject, the text and sanitised HTML (each split into what is
new and what is quoted), the attachments as a list (name, type, size, allowed or not:
they are never opened, so a zip bomb is only its size) and what could not be read. Bad
input never raises: a malformed message, an unknown charset, a huge header or a part
tree too deep gives a result that says so (``problems``), and the agent is told.
"""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import msgspec

from channels.email.html import html_to_text, sanitise, split_quoted_html, split_quoted_text

# The reference's list of attachment types (FAQ 70), and its total size per email.
ALLOWED_EXTENSIONS = frozenset(
    {
        "doc", "docx", "xls", "xlsx", "ppt", "pptx", "pdf", "jpg", "jpeg", "png", "gif",
        "txt", "bmp", "html", "htm", "mp4", "mp3", "avi", "mov", "ods", "csv", "msg", "eml",
    }
)  # fmt: skip
MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024
# Bounds on what is read at all (an email over them is reported, not imported whole).
MAX_HEADER_CHARS = 4000  # one header's value, as kept
MAX_REFERENCES = 50
MAX_PARTS = 200
MAX_DEPTH = 8
MAX_BODY_CHARS = 100_000


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    content_type: str
    size: int
    inline: bool = False
    content_id: str = ""
    # of a listed type, and within the email's 25 MB
    allowed: bool = True
    # the decoded bytes of an allowed attachment (b"" for a refused one: never kept)
    data: bytes = b""


class ParsedEmail(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    from_addr: str
    from_name: str = ""
    reply_to: list[str] = []
    to: list[str] = []
    cc: list[str] = []
    subject: str = ""
    date: float | None = None
    in_reply_to: str = ""
    references: list[str] = []
    text: str = ""
    quoted_text: str = ""
    html: str = ""
    quoted_html: str = ""
    attachments: list[Attachment] = []
    # headers the auto-reply rules read (RFC 3834 and the bulk-mail conventions)
    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    return_path: str = ""
    auto_response_suppress: str = ""
    # what could not be read, in words for the agent
    problems: list[str] = []

    @property
    def body(self) -> str:
        """The conversation's text for this email: what is new in it."""
        return (self.text or html_to_text(self.html))[:MAX_BODY_CHARS]

    @property
    def refused_attachments(self) -> list[Attachment]:
        return [a for a in self.attachments if not a.allowed]


_ID = re.compile(r"<[^<>\s]{1,900}>")


def message_ids(value: str) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References header."""
    return _ID.findall(value or "")


def synthetic_id(raw: bytes) -> str:
    """A stable Message-ID for an email that has none (or a broken one): the same bytes
    always get the same id, so a re-delivery is still recognised."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"


def _header(msg: Message, name: str, *, tail: bool = False) -> str:
    """A header's value, unfolded and bounded (``tail``: its last characters, for
    References, whose newest ids are at the end)."""
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse at all
        return ""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        return ""
    text = " ".join(text.replace("\x00", "").split())
    return text[-MAX_HEADER_CHARS:] if tail else text[:MAX_HEADER_CHARS]


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header; malformed
    entries are dropped."""
    try:
        raw = msg.get_all(name) or []
        values = [str(v) for v in raw]
    except Exception:
        return []
    out: list[tuple[str, str]] = []
    for display, addr in getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr and len(addr) <= 320 and " " not in addr:
            out.append((display.strip()[:200], addr))
    return out[:100]


def _decode_text(part: Message) -> str:
    """A text part's content; an unknown or wrong charset falls back to UTF-8 with
    replacement characters (never an exception)."""
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content.replace("\x00", "")
        except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
            pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, errors="replace")
    except LookupError:
        text = payload.decode("utf-8", errors="replace")
    return text.replace("\x00", "")


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def parse(raw: bytes) -> ParsedEmail:
    """Read one email; never raises (see the module's docstring)."""
    problems: list[str] = []
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # the parser is lenient; this is the last line of defence
        return ParsedEmail(
            message_id=synthetic_id(raw),
            from_addr="",
            problems=["the email could not be parsed at all"],
        )
    if msg.defects:
        problems.append("the email is malformed; what could be read is shown")

    ids = message_ids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else synthetic_id(raw)
    senders = _addresses(msg, "From")
    from_name, from_addr = senders[0] if senders else ("", "")
    date: float | None = None
    with_date = _header(msg, "Date")
    if with_date:
        try:
            date = parsedate_to_datetime(with_date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None

    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    total = 0
    parts = 0

    def walk(part: Message, depth: int) -> None:
        nonlocal total, parts
        parts += 1
        if parts > MAX_PARTS or depth > MAX_DEPTH:
            if "too many parts" not in " ".join(problems):
                problems.append("the email has too many parts or nests them too deep")
            return
        ctype = part.get_content_type()
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        walk(sub, depth + 1)
            return
        disposition = (part.get_content_disposition() or "").lower()
        try:
            filename = part.get_filename() or ""
        except Exception:
            filename = ""
        filename = " ".join(filename.split())[:255]
        if disposition != "attachment" and not filename and ctype in ("text/plain", "text/html"):
            (texts if ctype == "text/plain" else htmls).append(_decode_text(part))
            return
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        size = len(data)
        total += size
        name = filename or f"part-{parts}.{ctype.split('/')[-1][:10]}"
        cid = " ".join(_header(part, "Content-ID").split())
        allowed = _extension(name) in ALLOWED_EXTENSIONS and total <= MAX_ATTACHMENTS_BYTES
        attachments.append(
            Attachment(
                name=name,
                content_type=ctype,
                size=size,
                inline=disposition == "inline" or bool(cid),
                content_id=cid.strip("<>"),
                allowed=allowed,
                data=data if allowed else b"",
            )
        )

    try:
        walk(msg, 0)
    except Exception:
        problems.append("part of the email could not be read")

    html = sanitise("\n".join(htmls)) if htmls else ""
    new_html, quoted_html = split_quoted_html(html) if html else ("", "")
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if not text and html:
        text = html_to_text(html)
    new_text, quoted_text = split_quoted_text(text) if text else ("", "")
    if total > MAX_ATTACHMENTS_BYTES:
        problems.append("the attachments are over 25 MB in total")
    refs = message_ids(_header(msg, "References", tail=True))[-MAX_REFERENCES:]
    reply_ids = message_ids(_header(msg, "In-Reply-To"))
    return ParsedEmail(
        message_id=message_id,
        from_addr=from_addr,
        from_name=from_name,
        reply_to=[a for _, a in _addresses(msg, "Reply-To")],
        to=[a for _, a in _addresses(msg, "To")],
        cc=[a for _, a in _addresses(msg, "Cc")],
        subject=_header(msg, "Subject")[:998],
        date=date,
        in_reply_to=reply_ids[0] if reply_ids else "",
        references=refs,
        text=new_text[:MAX_BODY_CHARS],
        quoted_text=quoted_text[:MAX_BODY_CHARS],
        html=new_html,
        quoted_html=quoted_html,
        attachments=attachments,
        auto_submitted=_header(msg, "Auto-Submitted").lower(),
        precedence=_header(msg, "Precedence").lower(),
        list_id=_header(msg, "List-Id") or _header(msg, "List-Unsubscribe"),
        return_path=_header(msg, "Return-Path"),
        auto_response_suppress=_header(msg, "X-Auto-Response-Suppress").lower(),
        problems=problems,
    )


def format_address(address: str, name: str = "") -> str:
    """An address header value with an optional display name, quoted as needed."""
    local, _, domain = address.partition("@")
    return str(Address(display_name=name, username=local, domain=domain))
