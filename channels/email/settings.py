"""An email touchpoint's settings (the touchpoint's ``settings`` object), checked and
normalised by the email adapter's ``check_touchpoint``.

``password`` and ``oauth_token`` are secrets: the admin API never shows them (it says
``password_set`` / ``oauth_token_set``) and keeps the stored value when an edit leaves
them out; nothing logs them. Plain (unencrypted) IMAP and SMTP are allowed only to
loopback hosts, so credentials never cross a network in clear.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

import msgspec
from email_validator import EmailNotValidError, validate_email

from channels.email.compose import check_signature_images
from channels.email.html import sanitise

SECRETS = ("password", "oauth_token")
Security = Literal["tls", "starttls", "none"]


class Server(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = ""
    port: int = 0
    security: Security = "tls"


class RichText(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An auto-reply or a signature: sanitised HTML (links, ``tel:`` links, inline
    images), used only while enabled."""

    enabled: bool = False
    html: str = ""


class EmailSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # the mailbox's address (an individual mailbox: not an alias, a group or a list)
    address: str = ""
    # "imap": a real mailbox over IMAP and SMTP; "demo": the in-process demo mailbox
    # (./scripts/serve; docs/channels/email.md, "The demo mailbox")
    provider: Literal["imap", "demo"] = "imap"
    imap: Server = Server()
    smtp: Server = Server()
    # the login; the address when empty
    username: str = ""
    auth: Literal["password", "oauth2"] = "password"
    password: str = ""
    # an OAuth2 access token for SASL XOAUTH2 (Gmail, Microsoft 365)
    oauth_token: str = ""
    folder: str = "INBOX"
    # where a copy of what the gateway sends is kept (and looked for before a retry);
    # empty for providers that file SMTP-sent mail themselves (Gmail)
    sent_folder: str = "Sent"
    # seconds between polls when the server has no IDLE; IDLE is renewed every 25 min
    poll_interval: float = 60.0
    auto_reply: RichText = RichText()
    signature: RichText = RichText()

    @property
    def login(self) -> str:
        return self.username or self.address


_DEFAULT_PORTS = {("imap", "tls"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143}
_DEFAULT_PORTS |= {("smtp", "tls"): 465, ("smtp", "starttls"): 587, ("smtp", "none"): 25}


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(settings: dict[str, Any]) -> EmailSettings:
    """The settings as stored (already checked)."""
    return msgspec.convert(settings, EmailSettings)


_NESTED: dict[str, type[msgspec.Struct]] = {
    "imap": Server,
    "smtp": Server,
    "auto_reply": RichText,
    "signature": RichText,
}


def _names(struct: type[msgspec.Struct]) -> set[str]:
    return {f.name for f in msgspec.structs.fields(struct)}


def _known(settings: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The settings without the keys no setting has, and a problem for each of those:
    a misspelt key is said beside every other problem, not instead of them."""
    problems: list[tuple[str, str]] = []
    known: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in _names(EmailSettings):
            problems.append((f"settings.{key}", "unknown setting"))
            continue
        if key in _NESTED and isinstance(value, dict):
            inner = _names(_NESTED[key])
            problems += [
                (f"settings.{key}.{k}", "unknown setting") for k in value if k not in inner
            ]
            value = {k: v for k, v in value.items() if k in inner}
        known[key] = value
    return known, problems


def check(settings: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalised settings and every problem as (field, message)."""
    known, problems = _known(settings)
    try:
        s = msgspec.convert(known, EmailSettings)
    except msgspec.ValidationError as exc:
        return settings, [*problems, ("settings", str(exc))]
    address = s.address.strip()
    try:
        address = validate_email(
            address, check_deliverability=False, test_environment=True
        ).normalized.lower()
    except EmailNotValidError as exc:
        problems.append(("settings.address", f"a valid email address is required ({exc})"))
    changes: dict[str, Any] = {"address": address}
    if s.provider == "imap":
        for name in ("imap", "smtp"):
            server: Server = getattr(s, name)
            if not server.host.strip():
                problems.append((f"settings.{name}.host", f"the {name.upper()} server's host"))
            elif server.security == "none" and not _loopback(server.host):
                problems.append(
                    (
                        f"settings.{name}.security",
                        "unencrypted connections are allowed only to loopback hosts",
                    )
                )
            port = server.port or _DEFAULT_PORTS[(name, server.security)]
            if not 0 < port < 65536:
                problems.append((f"settings.{name}.port", "a port between 1 and 65535"))
            changes[name] = msgspec.structs.replace(server, host=server.host.strip(), port=port)
        secret = s.password if s.auth == "password" else s.oauth_token
        if not secret:
            field = "password" if s.auth == "password" else "oauth_token"
            problems.append((f"settings.{field}", f"{s.auth} authentication needs it"))
    if not s.folder.strip():
        problems.append(("settings.folder", "the folder to read (INBOX)"))
    if s.poll_interval < 5:
        problems.append(("settings.poll_interval", "at least 5 seconds"))
    for name in ("auto_reply", "signature"):
        text: RichText = getattr(s, name)
        if name == "signature":
            for p in check_signature_images(text.html):
                problems.append(("settings.signature.html", p))
        if len(text.html) > 200_000:
            problems.append((f"settings.{name}.html", "at most 200,000 characters"))
        changes[name] = msgspec.structs.replace(text, html=sanitise(text.html))
    if s.auto_reply.enabled and not s.auto_reply.html.strip():
        problems.append(("settings.auto_reply.html", "an enabled auto-reply needs its text"))
    normal = msgspec.structs.replace(s, **changes)
    return msgspec.to_builtins(normal), problems
