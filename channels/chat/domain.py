"""Domain matching for chat touchpoints: does the page the widget runs on belong to the site?

Pure and I/O-free. docs/domains.md states the rules and the decisions taken here; its
example tables are executed by tests/widget/test_docs.py, so keep both in step.

In short, a configured domain is ``[scheme://][*.]host[:port][/]``:

* ``example.com`` matches ``example.com`` and ``www.example.com`` only (one ``www.``:
  not ``www.www.example.com``, which the frame's ``frame-ancestors`` could not name);
* ``*.example.com`` matches ``example.com`` and every subdomain of it, at any depth;
* ``shop.example.com`` matches ``shop.example.com`` and ``www.shop.example.com`` only;
* a scheme, when given, must match; without one, http and https both match;
* a port, when given, must match the page's effective port; without one, only the page
  scheme's default port (80 for http, 443 for https) matches;
* ``localhost`` and IPv4 literals (``127.0.0.1``) are allowed and match exactly; IPv6
  literals are refused, since CSP cannot name them (no page on one could frame the chat);
* a trailing dot is the same name (channels/chat/pages.py lists the dotted form in the
  frame's ``frame-ancestors`` too).

What a reason quotes of a page URL never includes its query, fragment or user
information (``redact_url``, in gateway/services/refusals.py, which stores the refusals
for the admin): reasons are stored and answered to the page.

Every answer is a :class:`Match` carrying a one-sentence reason, so an admin can ask why
(``gateway domain-match CONFIGURED PAGE_URL``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Final, Literal
from urllib.parse import urlsplit

import idna

from gateway.errors import ConfigError
from gateway.services.refusals import redact_url

__all__ = [
    "DomainRule",
    "InvalidDomain",
    "Match",
    "match_origin",
    "match_page",
    "normalize_host",
    "parse_domain",
]

Scheme = Literal["http", "https"]

DEFAULT_PORTS: Final[dict[str, int]] = {"http": 80, "https": 443}

# A URL scheme followed by "://"; anything else is read as a bare host.
_SCHEME_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_PORT_RE: Final = re.compile(r"^[0-9]+$")
# WHATWG URL "ends in a number": browsers parse such hosts as IPv4 (127.1, 0x7f.1, 2130706433),
# so a name like that must be a dotted-decimal address or nothing.
_NUMERIC_LABEL_RE: Final = re.compile(r"^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$")


class InvalidDomain(ConfigError):
    """The configured touchpoint domain is not valid."""

    code = "invalid_domain"


class _BadHost(ValueError):
    """A host that cannot be normalised; the message says why, for an admin."""


@dataclass(frozen=True, slots=True)
class DomainRule:
    """A parsed, canonical touchpoint domain.

    ``host`` is ASCII (IDNA A-labels), lowercase, without a trailing dot and without a
    leading ``www.`` label, or an IPv4 address. For a wildcard rule, ``host`` is the base
    after ``*.``.
    """

    scheme: Scheme | None
    host: str
    port: int | None
    wildcard: bool

    @property
    def is_ip(self) -> bool:
        return _is_ip(self.host)

    def __str__(self) -> str:
        scheme = f"{self.scheme}://" if self.scheme else ""
        star = "*." if self.wildcard else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"{scheme}{star}{_bracket(self.host)}{port}"

    def describe(self) -> str:
        """What this rule accepts, as one phrase for an admin."""
        host = _show(self.host)
        if self.wildcard:
            hosts = f"{host} and any subdomain of it"
        elif self.is_ip or "." not in self.host:
            hosts = f"exactly {host}"
        else:
            hosts = f"{host} and www.{self.host}"
        schemes = f"over {self.scheme} only" if self.scheme else "over http or https"
        if self.port is not None:
            ports = f"on port {self.port} only"
        elif self.scheme:
            ports = f"on the default port {DEFAULT_PORTS[self.scheme]}"
        else:
            ports = "on the default port (80 for http, 443 for https)"
        return f"{hosts}, {schemes}, {ports}"


@dataclass(frozen=True, slots=True)
class Match:
    """The answer to "does this page match?", with a one-sentence reason."""

    matched: bool
    reason: str

    def __bool__(self) -> bool:
        # A dataclass instance is always truthy; `if match_page(...)` must not pass a refusal.
        return self.matched


# --- hosts ----------------------------------------------------------------------------


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _show(host: str) -> str:
    """The host as written in messages: an IDN also in Unicode, for the admin to recognise."""
    shown = _bracket(host)
    if "xn--" in host:
        try:
            unicode = idna.decode(host)
        except UnicodeError:  # IDNAError is one; a message must never fail
            return shown
        if unicode != host:
            return f"{shown} ({unicode})"
    return shown


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def normalize_host(host: str) -> str:
    """Return the canonical ASCII form of a URL host, or raise ``ValueError`` saying why.

    Case-folded and IDN-encoded with IDNA 2008 + UTS46 mapping (non-transitional, as
    browsers do), one trailing dot removed, IP addresses in canonical form (IPv6 without
    brackets). Does not remove ``www.``: that is a matching rule, not a spelling.
    """
    if host.startswith("[") and host.endswith("]"):
        return _normalize_ipv6(host[1:-1])
    if ":" in host:
        return _normalize_ipv6(host)
    if host in ("", "."):
        raise _BadHost("the host is empty")
    if "%" in host:
        raise _BadHost(f"host {host!r} contains '%'; write it without percent-encoding")
    try:
        encoded = idna.encode(host, uts46=True, std3_rules=True, transitional=False)
    except UnicodeError as exc:  # idna.IDNAError and its codec-level relatives
        raise _BadHost(f"host {host!r} is not a valid domain name ({exc})") from None
    # idna keeps one trailing dot; UTS46 may have made it from another full stop ("。").
    ascii_host = encoded.decode("ascii").removesuffix(".")
    # Checked after mapping: fullwidth "127.1" becomes ASCII "127.1", which browsers read as IPv4.
    if _NUMERIC_LABEL_RE.match(ascii_host.rsplit(".", 1)[-1]):
        try:
            return str(ipaddress.IPv4Address(ascii_host))
        except ValueError:
            raise _BadHost(
                f"host {host!r} ends in a number but is not an IPv4 address in "
                "dotted-decimal form (like 127.0.0.1)"
            ) from None
    return ascii_host


def _normalize_ipv6(text: str) -> str:
    # ipaddress accepts "%zone" suffixes, which have no meaning across machines.
    if "%" in text:
        raise _BadHost(f"IPv6 address {text!r} must not carry a zone (%...)")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise _BadHost(f"{text!r} is not a valid IPv6 address") from None


def _strip_one_www(host: str) -> str:
    # A page: one leading www. label, the one form the frame's frame-ancestors also names
    # (www.www.example.com is not example.com's: no CSP source short of *.example.com
    # would let it frame the chat); but only while a dotted name remains: "www.com"
    # stays itself.
    if host.startswith("www.") and "." in host[4:]:
        return host[4:]
    return host


def _strip_www(host: str) -> str:
    # A configured domain: every leading www. label, so the result is a fixed point
    # (www.www.example.com is example.com, and its canonical form reads back the same).
    while (bare := _strip_one_www(host)) != host:
        host = bare
    return host


def _split_authority(authority: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (host possibly ``[v6]``) into host and raw port text."""
    if authority.startswith("["):
        end = authority.find("]")
        if end == -1:
            raise _BadHost(f"{authority!r} opens '[' for an IPv6 address but never closes it")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise _BadHost(f"unexpected {rest!r} after the IPv6 address")
        return host, rest[1:]
    if authority.count(":") > 1:
        raise _BadHost(f"{authority!r}: an IPv6 address must be written in brackets, as [::1]")
    host, colon, port = authority.partition(":")
    return host, (port if colon else None)


def _parse_port(raw: str) -> int:
    # int() would accept "+80", " 80", "8_0" and non-ASCII digits.
    if not _PORT_RE.match(raw):
        raise _BadHost(f"port {raw!r} is not a number")
    port = int(raw)
    if not 1 <= port <= 65535:
        raise _BadHost(f"port {port} is outside 1-65535")
    return port


# --- configuration ----------------------------------------------------------------------


def parse_domain(configured: str) -> DomainRule:
    """Parse a touchpoint's configured domain; raise :class:`InvalidDomain` saying why."""
    try:
        return _parse_domain(configured)
    except _BadHost as exc:
        raise InvalidDomain(f"invalid domain {configured!r}: {exc}") from None


def _parse_domain(configured: str) -> DomainRule:
    text = configured.strip()
    if not text:
        raise _BadHost("it is empty; write a host such as example.com")
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in text):
        raise _BadHost("it contains whitespace or control characters")
    if "\\" in text:
        raise _BadHost("it contains a backslash")

    scheme: Scheme | None = None
    m = _SCHEME_RE.match(text)
    if m:
        name: str = m.group(1).lower()
        if name == "http":
            scheme = "http"
        elif name == "https":
            scheme = "https"
        else:
            raise _BadHost(f"scheme {name!r} is not supported; use http://, https:// or none")
        rest = text[m.end() :]
    elif text.startswith("//"):
        raise _BadHost("remove the leading '//' (or write a scheme: https://...)")
    else:
        rest = text

    # urlsplit needs "//" to see an authority: urlsplit("example.com:8080") reads a scheme.
    try:
        parts = urlsplit("//" + rest)
    except ValueError as exc:
        raise _BadHost(f"the host cannot be read ({exc})") from None
    if parts.path not in ("", "/"):
        raise _BadHost(
            f"path {parts.path!r} is not allowed: a touchpoint covers a whole host, "
            "subdirectories are not supported"
        )
    if parts.query or "?" in rest:
        raise _BadHost("a query string ('?...') is not allowed")
    if parts.fragment or "#" in rest:
        raise _BadHost("a fragment ('#...') is not allowed")
    if "@" in parts.netloc:
        raise _BadHost("user information ('...@') is not allowed; write the host only")

    wildcard = parts.netloc.startswith("*.")
    raw_host, raw_port = _split_authority(parts.netloc[2:] if wildcard else parts.netloc)
    port: int | None = None
    if raw_port is not None:
        if not raw_port:
            raise _BadHost("the port after ':' is empty")
        port = _parse_port(raw_port)
        # https://example.com:443 means https://example.com; without a scheme the port is
        # kept, since it then also constrains http pages.
        if scheme is not None and port == DEFAULT_PORTS[scheme]:
            port = None

    if "*" in raw_host:
        raise _BadHost("'*' is only allowed as the whole leftmost label, as in *.example.com")
    host = normalize_host(raw_host)

    if wildcard:
        if _is_ip(host):
            raise _BadHost("a wildcard cannot apply to an IP address")
        if "." not in host:
            raise _BadHost(
                f"*.{host} would cover a whole top-level domain; name the site, as in *.example.com"
            )
        if _strip_www(host) != host:
            # "*.www.example.com" is ambiguous once www. is ignored: say what is meant.
            raise _BadHost(f"write *.{_strip_www(host)} (www. is ignored) rather than *.{host}")
    elif ":" in host:
        raise _BadHost(
            f"an IPv6 address ({_bracket(host)}) cannot be a chat domain: a "
            "Content-Security-Policy cannot name one, so browsers would refuse to show the "
            "chat on any page there; use a host name that resolves to it instead (localhost "
            "for [::1], or a name in DNS or /etc/hosts)"
        )
    elif not _is_ip(host):
        host = _strip_www(host)
    return DomainRule(scheme=scheme, host=host, port=port, wildcard=wildcard)


# --- matching -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    scheme: str
    host: str
    port: int


def match_page(rule: DomainRule, page_url: str) -> Match:
    """Does the page at ``page_url`` belong to ``rule``? Never raises."""
    try:
        page = _parse_page(page_url, origin=False)
    except _BadHost as exc:
        return Match(False, f"page URL {_quoted(page_url)} cannot be used: {exc}")
    return _match(rule, page)


def match_origin(rule: DomainRule, origin: str) -> Match:
    """Does a browser ``Origin`` header (``scheme://host[:port]``) belong to ``rule``?"""
    if origin == "null":
        return Match(False, "Origin null (a sandboxed frame, file or opaque origin) never matches")
    try:
        page = _parse_page(origin, origin=True)
    except _BadHost as exc:
        return Match(False, f"Origin {_quoted(origin)} cannot be used: {exc}")
    return _match(rule, page)


def _quoted(url: str) -> str:
    shown = redact_url(url)
    if shown == url:
        return repr(url)
    return f"{shown!r} (shown without its query, fragment and user information)"


def _parse_page(url: str, *, origin: bool) -> _Page:
    what = "an Origin" if origin else "a URL"
    if not url:
        raise _BadHost("it is empty")
    # Browsers silently drop tabs/newlines and read "\" as "/": an attacker-shaped string
    # such as "https://evil.net\@example.com/" would then mean different hosts to urlsplit
    # and to the browser. The browser never sends these, so refuse them outright.
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in url):
        raise _BadHost("it contains whitespace or control characters")
    if "\\" in url:
        raise _BadHost("it contains a backslash")
    m = _SCHEME_RE.match(url)
    if not m:
        raise _BadHost(f"it is not {what} of the form scheme://host")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        # urlsplit's NFKC message quotes the whole authority, user information included.
        why = (
            "characters in it become URL delimiters under Unicode normalization"
            if "NFKC" in str(exc)
            else str(exc)
        )
        raise _BadHost(f"the host cannot be read ({why})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _BadHost(f"scheme {scheme} is not http or https")
    if origin and (parts.path or parts.query or parts.fragment or "@" in parts.netloc):
        raise _BadHost("an Origin is only scheme://host[:port]")
    # The host follows the last "@", as for browsers: https://example.com@evil.net/ is evil.net.
    authority = parts.netloc.rpartition("@")[2]
    raw_host, raw_port = _split_authority(authority)
    # An empty port ("https://example.com:/") means the default, as for browsers.
    port = _parse_port(raw_port) if raw_port else DEFAULT_PORTS[scheme]
    return _Page(scheme=scheme, host=normalize_host(raw_host), port=port)


def _match(rule: DomainRule, page: _Page) -> Match:
    host = _show(page.host)

    if rule.scheme is not None and page.scheme != rule.scheme:
        return Match(False, f"scheme {page.scheme} is not the configured scheme {rule.scheme}")

    base = _bracket(rule.host)
    if rule.is_ip:
        if page.host != rule.host:
            return Match(False, f"host {host} is not {base}")
        host_why = f"host {host} is {base}"
    elif "." not in rule.host:
        # localhost (or another one-label name): exactly itself, no www. form.
        if page.host == rule.host:
            host_why = f"host {host} is {base}"
        elif page.host.endswith("." + rule.host):
            return Match(
                False,
                f"host {host} is a subdomain of {base}, which matches only itself "
                f"(exactly {base}: no www. form, no subdomains)",
            )
        else:
            return Match(False, f"host {host} is not {base}")
    else:
        bare = _strip_one_www(page.host)
        if rule.wildcard:
            if bare == rule.host:
                www = " with www. ignored" if bare != page.host else ""
                host_why = f"host {host} is {base}{www}, which *.{base} includes"
            elif bare.endswith("." + rule.host):
                host_why = f"host {host} is a subdomain of {base}"
            else:
                return Match(False, f"host {host} is neither {base} nor a subdomain of it")
        elif bare == rule.host:
            www = " with www. ignored" if bare != page.host else ""
            host_why = f"host {host} is {base}{www}"
        elif bare.endswith("." + rule.host):
            return Match(
                False,
                f"host {host} is a subdomain of {base}, which matches only itself and "
                f"www.{base} (configure {replace(rule, wildcard=True)} to include subdomains)",
            )
        else:
            return Match(False, f"host {host} is not {base} or a www. form of it")

    if rule.port is not None:
        if page.port != rule.port:
            return Match(False, f"port {page.port} is not the configured port {rule.port}")
        port_why = f"port {page.port} is the configured port"
    else:
        default = DEFAULT_PORTS[page.scheme]
        if page.port != default:
            return Match(
                False,
                f"port {page.port} is not the default port {default} for {page.scheme} "
                f"(configure {replace(rule, port=page.port)} to allow it)",
            )
        port_why = f"port {page.port} is the default for {page.scheme}"

    scheme_why = (
        f"scheme {page.scheme} is the configured one"
        if rule.scheme
        else f"scheme {page.scheme} is allowed"
    )
    return Match(True, f"{host_why}, {scheme_why} and {port_why}")
