"""The chat domain rules of channels/chat/domain.py, table by table (docs/domains.md explains them)."""

from __future__ import annotations

import pytest

from channels.chat.domain import (
    DomainRule,
    InvalidDomain,
    Match,
    match_origin,
    match_page,
    normalize_host,
    parse_domain,
)
from gateway.errors import ConfigError

# Fullwidth forms, built rather than pasted: UTS46 maps them to ASCII, as browsers do.
FW_EXAMPLE = "".join(chr(ord(c) + 0xFEE0) for c in "example")
FW_127_1 = "".join(chr(ord(c) + 0xFEE0) for c in "127.1")
FW_127_0_0_1 = "".join(chr(ord(c) + 0xFEE0) for c in "127.0.0.1")

# --- configuration: canonical forms ----------------------------------------------------

CANONICAL = [
    # configured, str(rule), scheme, host, port, wildcard
    ("example.com", "example.com", None, "example.com", None, False),
    ("  example.com  ", "example.com", None, "example.com", None, False),
    ("example.com/", "example.com", None, "example.com", None, False),
    ("EXAMPLE.Com", "example.com", None, "example.com", None, False),
    ("example.com.", "example.com", None, "example.com", None, False),
    ("www.example.com", "example.com", None, "example.com", None, False),
    ("WWW.Example.COM.", "example.com", None, "example.com", None, False),
    ("www.www.example.com", "example.com", None, "example.com", None, False),
    ("www.com", "www.com", None, "www.com", None, False),
    ("HTTPS://Example.com/", "https://example.com", "https", "example.com", None, False),
    ("http://example.com", "http://example.com", "http", "example.com", None, False),
    ("https://example.com:443", "https://example.com", "https", "example.com", None, False),
    ("http://example.com:80/", "http://example.com", "http", "example.com", None, False),
    ("https://example.com:80", "https://example.com:80", "https", "example.com", 80, False),
    ("example.com:443", "example.com:443", None, "example.com", 443, False),
    ("example.com:08443", "example.com:8443", None, "example.com", 8443, False),
    ("*.example.com", "*.example.com", None, "example.com", None, True),
    ("*.Shop.Example.com.", "*.shop.example.com", None, "shop.example.com", None, True),
    (
        "https://*.example.com:8443",
        "https://*.example.com:8443",
        "https",
        "example.com",
        8443,
        True,
    ),
    ("shop.example.com", "shop.example.com", None, "shop.example.com", None, False),
    ("bücher.example", "xn--bcher-kva.example", None, "xn--bcher-kva.example", None, False),
    ("BÜCHER.example", "xn--bcher-kva.example", None, "xn--bcher-kva.example", None, False),
    ("xn--BCHER-kva.example", "xn--bcher-kva.example", None, "xn--bcher-kva.example", None, False),
    ("*.bücher.example", "*.xn--bcher-kva.example", None, "xn--bcher-kva.example", None, True),
    (f"{FW_EXAMPLE}.com", "example.com", None, "example.com", None, False),
    ("例子。测试", "xn--fsqu00a.xn--0zwm56d", None, "xn--fsqu00a.xn--0zwm56d", None, False),
    ("faß.de", "xn--fa-hia.de", None, "xn--fa-hia.de", None, False),
    ("localhost", "localhost", None, "localhost", None, False),
    ("localhost:8000", "localhost:8000", None, "localhost", 8000, False),
    ("127.0.0.1", "127.0.0.1", None, "127.0.0.1", None, False),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "http", "127.0.0.1", 8000, False),
]


@pytest.mark.parametrize(("configured", "text", "scheme", "host", "port", "wildcard"), CANONICAL)
def test_parse_canonical(
    configured: str, text: str, scheme: str | None, host: str, port: int | None, wildcard: bool
) -> None:
    rule = parse_domain(configured)
    assert rule == DomainRule(scheme=scheme, host=host, port=port, wildcard=wildcard)  # type: ignore[arg-type]
    assert str(rule) == text
    assert parse_domain(str(rule)) == rule  # the canonical form reads back as itself


# --- configuration: rejections -----------------------------------------------------------

INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("example.com/shop", "subdirectories are not supported"),
    ("example.com/shop/", "subdirectories are not supported"),
    ("example.com//", "subdirectories are not supported"),
    ("https://example.com/index.html", "subdirectories are not supported"),
    ("example.com?", "query string"),
    ("example.com?a=b", "query string"),
    ("example.com#", "fragment"),
    ("example.com#x", "fragment"),
    ("user@example.com", "user information"),
    ("https://user:pw@example.com", "user information"),
    ("ftp://example.com", "scheme 'ftp' is not supported"),
    ("ws://example.com", "scheme 'ws' is not supported"),
    ("//example.com", "leading '//'"),
    ("https://", "the host is empty"),
    ("https://:8080", "the host is empty"),
    (".", "the host is empty"),
    ("example.com:", "port after ':' is empty"),
    ("example.com:0", "outside 1-65535"),
    ("example.com:65536", "outside 1-65535"),
    ("example.com:+80", "is not a number"),
    ("example.com:٨٠", "is not a number"),  # Arabic-Indic digits: int() would accept them
    ("example.com:80:90", "brackets"),
    ("ex ample.com", "whitespace"),
    ("exam\tple.com", "whitespace"),
    ("example.com\\", "backslash"),
    ("*", "whole leftmost label"),
    ("*.", "the host is empty"),
    ("*.com", "whole top-level domain"),
    ("*.localhost", "whole top-level domain"),
    ("*example.com", "whole leftmost label"),
    ("shop.*.example.com", "whole leftmost label"),
    ("*.*.example.com", "whole leftmost label"),
    ("example.*", "whole leftmost label"),
    ("*.www.example.com", "write *.example.com"),
    ("*.127.0.0.1", "wildcard cannot apply to an IP address"),
    ("*.[::1]", "wildcard cannot apply to an IP address"),
    ("127.1", "dotted-decimal"),
    ("0x7f.0.0.1", "dotted-decimal"),
    ("2130706433", "dotted-decimal"),
    ("127.000.0.1", "dotted-decimal"),
    ("example.123", "dotted-decimal"),
    ("256.0.0.1", "dotted-decimal"),
    ("::1", "brackets"),
    ("[::1", "cannot be read"),
    ("[::1]x", "after the IPv6 address"),
    ("[not-ip]", "cannot be read"),
    ("[fe80::1%eth0]", "zone"),
    # CSP cannot name an IPv6 address: no page on one could frame the chat
    ("[::1]", "an IPv6 address ([::1]) cannot be a chat domain"),
    ("[0:0:0:0:0:0:0:1]:8080", "use a host name that resolves to it"),
    ("http://[2001:DB8::1]", "an IPv6 address ([2001:db8::1])"),
    ("xn--zz.example", "not a valid domain name"),
    ("foo_bar.example", "not a valid domain name"),
    ("-shop.example", "not a valid domain name"),
    ("example..com", "not a valid domain name"),
    ("example.com..", "not a valid domain name"),
    ("exa%6dple.com", "percent-encoding"),
    ("💩.example", "not a valid domain name"),
    ("a" * 64 + ".example", "not a valid domain name"),
]


@pytest.mark.parametrize(("configured", "fragment"), INVALID)
def test_parse_rejects(configured: str, fragment: str) -> None:
    with pytest.raises(InvalidDomain) as info:
        parse_domain(configured)
    message = str(info.value)
    assert fragment in message
    assert repr(configured) in message  # the admin sees which value is wrong


def test_invalid_domain_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_domain("example.com/shop")
    assert info.value.code == "invalid_domain"


# --- matching pages ---------------------------------------------------------------------

PAGES = [
    # configured, page, matched, reason fragment
    # www. on both sides
    ("example.com", "https://example.com/", True, "host example.com is example.com"),
    ("example.com", "https://www.example.com/a", True, "with www. ignored"),
    ("www.example.com", "https://example.com/", True, "is example.com"),
    ("www.example.com", "https://www.example.com/", True, "with www. ignored"),
    ("example.com", "https://www2.example.com/", False, "is a subdomain of example.com"),
    # one www. only: the frame's frame-ancestors names no www.www. form
    ("example.com", "https://www.www.example.com/", False, "configure *.example.com"),
    ("*.example.com", "https://www.www.example.com/", True, "subdomain of example.com"),
    ("www.com", "https://www.www.com/", True, "with www. ignored"),
    ("www.com", "https://com/", False, "host com is not www.com"),
    # exact subdomain rules
    ("shop.example.com", "https://shop.example.com/", True, "is shop.example.com"),
    ("shop.example.com", "https://www.shop.example.com/", True, "with www. ignored"),
    ("shop.example.com", "https://example.com/", False, "is not shop.example.com"),
    ("shop.example.com", "https://www.example.com/", False, "is not shop.example.com"),
    ("shop.example.com", "https://eu.shop.example.com/", False, "*.shop.example.com"),
    ("shop.example.com", "https://blog.example.com/", False, "is not shop.example.com"),
    # wildcard
    ("*.example.com", "https://example.com/", True, "which *.example.com includes"),
    ("*.example.com", "https://www.example.com/", True, "which *.example.com includes"),
    ("*.example.com", "https://a.example.com/", True, "subdomain of example.com"),
    ("*.example.com", "https://a.b.c.example.com/", True, "subdomain of example.com"),
    ("*.shop.example.com", "https://shop.example.com/", True, "includes"),
    ("*.shop.example.com", "https://example.com/", False, "neither shop.example.com"),
    ("*.shop.example.com", "https://blog.example.com/", False, "neither"),
    # substring attacks
    ("example.com", "https://evilexample.com/", False, "not example.com or a www. form"),
    ("example.com", "https://example.com.evil.net/", False, "example.com.evil.net is not"),
    ("example.com", "https://example.comevil.net/", False, "is not example.com"),
    ("example.com", "https://wwwexample.com/", False, "is not example.com"),
    ("example.com", "https://www.evil.net/?example.com", False, "www.evil.net is not"),
    ("example.com", "https://evil.net/example.com", False, "evil.net is not"),
    ("*.example.com", "https://evilexample.com/", False, "neither example.com nor"),
    ("*.example.com", "https://example.com.evil.net/", False, "neither example.com nor"),
    ("*.example.com", "https://xexample.com/", False, "neither"),
    ("*.example.com", "https://example.co/", False, "neither"),
    # URL parsing tricks: userinfo, backslash, fragment/query before '@'
    ("example.com", "https://example.com@evil.net/", False, "host evil.net"),
    ("example.com", "https://example.com:443@evil.net/", False, "host evil.net"),
    ("example.com", "https://a@b@evil.net/", False, "host evil.net"),
    ("evil.net", "https://example.com@evil.net/", True, "host evil.net is evil.net"),
    ("example.com", "https://user:pw@www.example.com/", True, "with www. ignored"),
    ("example.com", "https://evil.net\\@example.com/", False, "backslash"),
    ("example.com", "https:\\\\example.com/", False, "backslash"),
    ("example.com", "https://evil.net#@example.com/", False, "host evil.net"),
    ("example.com", "https://evil.net?@example.com/", False, "host evil.net"),
    ("example.com", "https://evil.net/@example.com/", False, "host evil.net"),
    ("example.com", "https://exam\tple.com/", False, "whitespace or control"),
    ("example.com", "https://example.com\n/", False, "whitespace or control"),
    ("example.com", " https://example.com/", False, "whitespace or control"),
    ("example.com", "https://exa%6dple.com/", False, "percent-encoding"),
    # unparseable pages are refusals, not errors
    ("example.com", "", False, "empty"),
    ("example.com", "example.com", False, "scheme://host"),
    ("example.com", "//example.com/", False, "scheme://host"),
    ("example.com", "https:example.com", False, "scheme://host"),
    ("example.com", "https:///example.com", False, "the host is empty"),
    ("example.com", "https://", False, "the host is empty"),
    ("example.com", "javascript:alert(1)//example.com", False, "scheme://host"),
    ("example.com", "file:///C:/example.com/index.html", False, "scheme file is not http"),
    ("example.com", "ws://example.com/", False, "scheme ws is not http or https"),
    ("example.com", "https://[::1/", False, "cannot be used"),
    ("example.com", "https://foo_bar.example.com/", False, "not a valid domain name"),
    ("example.com", "https://example.com:99999/", False, "outside 1-65535"),
    ("example.com", "https://example.com:44x/", False, "is not a number"),
    # scheme
    ("https://example.com", "https://example.com/", True, "scheme https is the configured one"),
    ("https://example.com", "http://example.com/", False, "scheme http is not the configured"),
    ("http://example.com", "https://example.com/", False, "scheme https is not the configured"),
    ("http://example.com", "HTTP://EXAMPLE.COM/", True, "scheme http is the configured one"),
    ("example.com", "http://example.com/", True, "scheme http is allowed"),
    ("example.com", "https://example.com/", True, "scheme https is allowed"),
    # case, trailing dots
    ("example.com", "https://EXAMPLE.COM/", True, "is example.com"),
    ("EXAMPLE.COM", "https://Www.Example.Com/", True, "with www. ignored"),
    ("example.com", "https://example.com./", True, "is example.com"),
    ("example.com.", "https://www.example.com./", True, "is example.com"),
    ("example.com", "https://example.com../", False, "not a valid domain name"),
    # ports
    ("example.com", "https://example.com:443/", True, "port 443 is the default for https"),
    ("example.com", "http://example.com:80/", True, "port 80 is the default for http"),
    ("example.com", "https://example.com:/", True, "port 443 is the default"),
    ("example.com", "https://example.com:0443/", True, "port 443 is the default"),
    ("example.com", "https://example.com:80/", False, "not the default port 443 for https"),
    ("example.com", "http://example.com:443/", False, "not the default port 80 for http"),
    ("example.com", "https://example.com:8443/", False, "configure example.com:8443"),
    ("https://example.com", "https://example.com:8443/", False, "https://example.com:8443"),
    ("*.example.com", "https://a.example.com:8443/", False, "configure *.example.com:8443"),
    ("example.com:8443", "https://example.com:8443/", True, "port 8443 is the configured port"),
    ("example.com:8443", "http://example.com:8443/", True, "port 8443 is the configured port"),
    ("example.com:8443", "https://example.com/", False, "port 443 is not the configured"),
    ("example.com:8443", "https://example.com:8444/", False, "8444 is not the configured"),
    ("example.com:443", "https://example.com/", True, "port 443 is the configured port"),
    ("example.com:443", "http://example.com/", False, "port 80 is not the configured port 443"),
    ("https://example.com:443", "https://example.com/", True, "default for https"),
    ("https://example.com:8443", "http://example.com:8443/", False, "scheme http is not"),
    # localhost and IP literals
    ("localhost", "http://localhost/", True, "host localhost is localhost"),
    ("localhost", "http://LOCALHOST./", True, "host localhost is localhost"),
    ("localhost:8000", "http://localhost:8000/demo/", True, "port 8000 is the configured"),
    ("localhost:8000", "http://localhost:8001/", False, "8001 is not the configured port"),
    ("localhost", "http://www.localhost/", False, "is a subdomain of localhost"),
    ("localhost", "http://shop.localhost/", False, "matches only itself"),
    ("localhost", "http://evillocalhost/", False, "is not localhost"),
    ("127.0.0.1:8000", "http://127.0.0.1:8000/", True, "host 127.0.0.1 is 127.0.0.1"),
    ("127.0.0.1", "http://127.0.0.2/", False, "host 127.0.0.2 is not 127.0.0.1"),
    ("127.0.0.1", "http://localhost/", False, "host localhost is not 127.0.0.1"),
    ("127.0.0.1", "http://127.1/", False, "dotted-decimal"),
    ("127.0.0.1", "http://127.0.0.1.evil.net/", False, "is not 127.0.0.1"),
    ("localhost", "http://127.0.0.1/", False, "127.0.0.1 is not localhost"),
    ("localhost", "http://[0000::0001]/", False, "host [::1] is not localhost"),
    ("localhost", "http://[fe80::1%25eth0]/", False, "cannot be used"),
    ("example.com", "http://93.184.216.34/", False, "93.184.216.34 is not example.com"),
    # IDN
    ("bücher.example", "https://xn--bcher-kva.example/", True, "is xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "https://bücher.example/", True, "(bücher.example)"),
    ("xn--bcher-kva.example", "https://BÜCHER.EXAMPLE/", True, "is xn--bcher-kva.example"),
    ("bücher.example", "https://www.bücher.example/", True, "with www. ignored"),
    ("*.bücher.example", "https://shop.bücher.example/", True, "subdomain of xn--bcher-kva"),
    ("bücher.example", "https://bucher.example/", False, "bucher.example is not"),
    ("bücher.example", "https://xn--bcher-kva.example.evil.net/", False, "is not"),
    ("faß.de", "https://fass.de/", False, "fass.de is not xn--fa-hia.de"),
    ("faß.de", "https://FASS.de/", False, "is not xn--fa-hia.de"),
    (f"{FW_EXAMPLE}.com", "https://example.com/", True, "is example.com"),
    ("example.com", f"https://{FW_EXAMPLE}.com/", True, "is example.com"),
    ("example.com", "https://example。com/", True, "is example.com"),
    ("example.com", "https://xn--zz.com/", False, "not a valid domain name"),
]


@pytest.mark.parametrize(("configured", "page", "expected", "fragment"), PAGES)
def test_match_page(configured: str, page: str, expected: bool, fragment: str) -> None:
    result = match_page(parse_domain(configured), page)
    assert result.matched is expected, result.reason
    assert fragment in result.reason


def test_match_reason_is_one_sentence_naming_every_check() -> None:
    reason = match_page(parse_domain("example.com"), "https://www.example.com/x").reason
    assert reason == (
        "host www.example.com is example.com with www. ignored, scheme https is allowed "
        "and port 443 is the default for https"
    )


def test_match_is_falsy_when_refused() -> None:
    # `if match_page(...)` must never let a refusal through.
    rule = parse_domain("example.com")
    assert not match_page(rule, "https://evil.net/")
    assert match_page(rule, "https://example.com/")
    assert Match(False, "x").matched is False


# --- Origin headers ------------------------------------------------------------------------

ORIGINS = [
    ("example.com", "https://example.com", True, "is example.com"),
    ("example.com", "https://www.example.com", True, "with www. ignored"),
    ("example.com", "http://example.com:80", True, "default for http"),
    ("example.com", "https://example.com:8443", False, "not the default port 443"),
    ("example.com:8443", "https://example.com:8443", True, "configured port"),
    ("https://example.com", "http://example.com", False, "scheme http is not the configured"),
    ("example.com", "https://evilexample.com", False, "not example.com"),
    ("example.com", "https://example.com.evil.net", False, "not example.com"),
    ("*.example.com", "https://a.b.example.com", True, "subdomain of example.com"),
    ("bücher.example", "https://xn--bcher-kva.example", True, "is xn--bcher-kva.example"),
    ("localhost:8000", "http://localhost:8000", True, "is localhost"),
    ("localhost:8000", "http://[::1]:8000", False, "host [::1] is not localhost"),
    ("example.com", "null", False, "Origin null"),
    ("example.com", "NULL", False, "scheme://host"),
    ("example.com", "", False, "empty"),
    ("example.com", "https://example.com/", False, "only scheme://host[:port]"),
    ("example.com", "https://example.com/path", False, "only scheme://host[:port]"),
    ("example.com", "https://example.com?x", False, "only scheme://host[:port]"),
    ("example.com", "https://example.com#x", False, "only scheme://host[:port]"),
    ("example.com", "https://u@example.com", False, "only scheme://host[:port]"),
    ("example.com", "https://example.com@evil.net", False, "only scheme://host[:port]"),
    ("example.com", "example.com", False, "scheme://host"),
    ("example.com", "chrome-extension://abcdef", False, "not http or https"),
    ("example.com", "https://evil.net\\@example.com", False, "backslash"),
]


@pytest.mark.parametrize(("configured", "origin", "expected", "fragment"), ORIGINS)
def test_match_origin(configured: str, origin: str, expected: bool, fragment: str) -> None:
    result = match_origin(parse_domain(configured), origin)
    assert result.matched is expected, result.reason
    assert fragment in result.reason


# --- normalize_host and describe --------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("www.Example.com", "www.example.com"),  # www. is a matching rule, not a spelling
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("127.0.0.1", "127.0.0.1"),
        ("[0::1]", "::1"),
        ("0::1", "::1"),
    ],
)
def test_normalize_host(host: str, expected: str) -> None:
    assert normalize_host(host) == expected


@pytest.mark.parametrize("host", ["", ".", "a..b", "127.1", "foo_bar.com", "[::1", "ex%41.com"])
def test_normalize_host_rejects(host: str) -> None:
    with pytest.raises(ValueError):
        normalize_host(host)


@pytest.mark.parametrize(
    ("configured", "description"),
    [
        (
            "example.com",
            "example.com and www.example.com, over http or https, "
            "on the default port (80 for http, 443 for https)",
        ),
        (
            "https://*.example.com",
            "example.com and any subdomain of it, over https only, on the default port 443",
        ),
        ("localhost:8000", "exactly localhost, over http or https, on port 8000 only"),
        ("http://127.0.0.1", "exactly 127.0.0.1, over http only, on the default port 80"),
        ("bücher.example", "xn--bcher-kva.example (bücher.example) and www.xn--bcher-kva.example"),
    ],
)
def test_describe(configured: str, description: str) -> None:
    assert parse_domain(configured).describe().startswith(description)


def test_fullwidth_digits_are_read_as_ipv4_like_browsers() -> None:
    # UTS46 maps fullwidth "127.1" to ASCII "127.1", which a browser reads as 127.0.0.1.
    with pytest.raises(InvalidDomain, match="dotted-decimal"):
        parse_domain(FW_127_1)
    assert match_page(parse_domain("127.0.0.1"), f"http://{FW_127_0_0_1}/").matched


def test_wildcard_over_www_names() -> None:
    with pytest.raises(InvalidDomain, match=r"write \*\.example\.com"):
        parse_domain("*.www.www.example.com")
    # "www.com" keeps its www. (nothing dotted would remain), so *.www.com is a plain wildcard.
    rule = parse_domain("*.www.com")
    assert str(rule) == "*.www.com"
    assert match_page(rule, "https://shop.www.com/").matched
    assert not match_page(rule, "https://com/").matched


def test_huge_page_url_is_answered_quickly() -> None:
    rule = parse_domain("example.com")
    result = match_page(rule, "https://" + "a" * 1_000_000 + ".example.com/")
    assert not result.matched
    assert "not a valid domain name" in result.reason
    assert match_page(rule, "https://example.com/?" + "q" * 1_000_000).matched
