"""Embedding the widget: keyboard use, the host page's JavaScript API, a cross-origin
embedding with its strict postMessage checks, the iframe snippet, the frame's
Content-Security-Policy, and the size budget. No agent logs in to this module's gateway,
so the widget offers to leave a message (nobody can answer)."""

from __future__ import annotations

import contextlib
import gzip
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from channels.chat.identity import sign
from channels.chat.pages import frame_ancestors
from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, chat_frame, page_site, start_chat

WIDGET = Path(__file__).resolve().parents[2] / "widget" / "static"


@pytest.mark.browser
def test_widget_by_keyboard_alone(new_page: NewPage, gateway: GatewayProcess) -> None:
    page: Page = new_page()
    page.goto(gateway.base_url + "/demo")
    launcher = page.get_by_role("button", name=re.compile("^Open chat"))
    expect(launcher).to_be_visible()
    for _ in range(20):  # Tab through the page until the launcher has focus
        page.keyboard.press("Tab")
        if launcher.evaluate("el => el.getRootNode().activeElement === el"):
            break
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    frame = chat_frame(page)
    expect(page.get_by_role("button", name="Minimise chat")).to_have_attribute(
        "aria-expanded", "true"
    )
    name = frame.get_by_role("textbox", name="Your name")
    expect(name).to_be_focused()
    page.keyboard.type("Dana")
    page.keyboard.press("Tab")
    expect(frame.get_by_role("textbox", name="Email")).to_be_focused()
    page.keyboard.type("dana@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Tab")
    # Nobody is online in this module: the form leaves a message (docs/widget.md).
    expect(frame.get_by_role("button", name="Send message")).to_be_focused()
    page.keyboard.press("Enter")
    messages = frame.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("Typed without a mouse")
    # Focus lands in the message box; Enter sends.
    expect(frame.get_by_role("textbox", name="Message")).to_be_focused()
    page.keyboard.type("And a second one")
    page.keyboard.press("Enter")
    expect(messages.get_by_role("listitem").filter(has_text="And a second one")).to_contain_text(
        "Sent"
    )
    # Escape minimises and gives focus back to the launcher; Enter opens it again.
    page.keyboard.press("Escape")
    launcher = page.get_by_role("button", name=re.compile("^Open chat"))
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(frame.get_by_role("textbox", name="Message")).to_be_focused()
    # The minimise button in the chat's header works by keyboard too.
    page.keyboard.press("Shift+Tab")
    expect(frame.get_by_role("button", name="Minimise chat")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=re.compile("^Open chat"))).to_be_focused()


@pytest.mark.browser
def test_cross_origin_embedding_and_js_api(new_page: NewPage, gateway: GatewayProcess) -> None:
    # The shop on http://localhost:PORT, the gateway (loader, iframe) on 127.0.0.1:PORT.
    page: Page = new_page()
    page.goto(f"http://localhost:{gateway.port}/demo?cross=1")
    launcher = page.get_by_role("button", name=re.compile("^Open chat"))
    expect(launcher).to_be_visible()
    expect(page.locator("iframe[title='Chat']")).to_have_attribute(
        "src", re.compile(r"^http://127\.0\.0\.1:")
    )
    page.evaluate(
        """() => { window.seen = [];
        for (const n of ['open', 'close', 'conversation', 'unread', 'error'])
            GatewayChat.on(n, (d) => seen.push(n === 'conversation' ? 'conversation:' + d.type : n)); }"""
    )
    # A forged message from the host page itself is ignored: only the iframe may speak.
    page.evaluate(
        "() => window.postMessage({ns: 'gw-widget', v: 1, type: 'unread', count: 7}, '*')"
    )
    page.evaluate("() => window.postMessage({ns: 'gw-widget', v: 1, type: 'open-request'}, '*')")
    # The demo's own button calls GatewayChat.open().
    page.get_by_role("button", name="Talk to us").click()
    expect(page.get_by_role("button", name="Minimise chat")).to_have_attribute(
        "aria-expanded", "true"
    )
    frame = start_chat(page, "Frank", "frank@example.com", "Across origins", "Send message")
    page.wait_for_function(
        "() => seen.includes('conversation:started') && seen.includes('conversation:message')"
    )
    page.evaluate("() => GatewayChat.close()")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    seen = page.evaluate("() => seen")
    assert seen[0] == "open" and "close" in seen and "unread" not in seen, seen
    assert page.evaluate("() => GatewayChat.unread") == 0
    # identify() hands the site's signed identity to the chat: the page is on
    # localhost, so its touchpoint gets an identity secret, and the site signs with it.
    secret = "the-shop-identity-secret-0123456789"
    login = login_token(gateway.base_url, *ADMIN)
    r = httpx.patch(
        gateway.base_url + "/api/admin/touchpoints/tp_demo_localhost",
        json={"identity_secret": secret},
        headers={"Authorization": f"Bearer {login}"},
    )
    assert r.status_code == 200 and r.json()["identity_secret_set"] is True
    signature = sign(secret, "frank@example.com")
    with page.expect_response(lambda r: r.url.endswith("/widget/bootstrap")) as answer:
        page.evaluate(
            f"() => GatewayChat.identify({{email: 'frank@example.com', signature: '{signature}'}})"
        )
    # Verified (200), not refused and dropped (422 identity_unsupported, 403).
    assert answer.value.status == 200, answer.value.text()
    page.evaluate("() => GatewayChat.open()")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Across origins")
    assert "error" not in page.evaluate("() => seen")


@contextlib.contextmanager
def blog_page(page: Page, gateway: GatewayProcess, csp: str = "") -> Iterator[list[str]]:
    """A page on localhost (a server of its own), which tp_demo_127 (127.0.0.1) does not
    allow, embedding that touchpoint's loader and listening for ``error`` once
    ``gatewaychat:loaded`` says the API is there; the console's words."""
    html = f"""<!doctype html><html lang="en"><title>Blog</title>
<script>
  window.seen = [];
  addEventListener("gatewaychat:loaded", () => GatewayChat.on("error", (e) => seen.push(e.code)));
</script>
<script src="{gateway.base_url}/widget/loader.js" data-touchpoint="tp_demo_127" async></script>
</html>"""
    said: list[str] = []
    page.on("console", lambda m: said.append(m.text) if "GatewayChat" in m.text else None)
    with page_site(html, {"Content-Security-Policy": csp} if csp else None) as port:
        page.goto(f"http://localhost:{port}/post")
        yield said


@pytest.mark.browser
def test_a_refused_page_hears_why_after_loaded(new_page: NewPage, gateway: GatewayProcess) -> None:
    """Regression: gatewaychat:loaded came only when the chat was mounted, so a page
    that subscribed to ``error`` on it never heard a refusal."""
    page: Page = new_page()
    with blog_page(page, gateway) as said:
        page.wait_for_function("() => window.seen.length > 0")
        assert page.evaluate("() => window.seen") == ["domain_mismatch"]
        assert page.locator("iframe").count() == 0
        assert len(said) == 1 and "is not shown on this page" in said[0], said


@pytest.mark.browser
def test_a_check_the_pages_policy_stops_is_said(new_page: NewPage, gateway: GatewayProcess) -> None:
    """A Content-Security-Policy without the gateway in connect-src stops the page check
    (docs/widget.md): the loader says so, and the chat is framed for the gateway to
    decide (it refuses this page: frame-ancestors)."""
    page: Page = new_page()
    gw = gateway.base_url
    csp = f"default-src 'self'; script-src 'unsafe-inline' {gw}; frame-src {gw}"
    with blog_page(page, gateway, csp) as said:
        expect(page.locator("iframe")).to_have_count(1)
        [warning] = [t for t in said if "could not ask" in t]
        assert "connect-src" in warning
        assert page.evaluate("() => window.seen") == []


@pytest.mark.browser
def test_iframe_snippet(new_page: NewPage, gateway: GatewayProcess) -> None:
    page: Page = new_page()
    page.goto(gateway.base_url + "/demo/iframe")
    frame = page.frame_locator("iframe[title='Chat with us']")
    expect(frame.get_by_role("heading", name="Chat with us")).to_be_visible()
    expect(frame.get_by_role("button", name="Minimise chat")).to_be_hidden()  # always open
    frame.get_by_role("textbox", name="Your name").fill("Gina")
    frame.get_by_role("textbox", name="Email").fill("gina@example.com")
    frame.get_by_role("textbox", name="Your message").fill("From the iframe snippet")
    frame.get_by_role("button", name="Send message").click()
    expect(
        frame.get_by_role("listitem").filter(has_text="From the iframe snippet")
    ).to_contain_text("Sent")


def test_frame_csp_names_the_touchpoint_site(gateway: GatewayProcess) -> None:
    def csp(touchpoint: str) -> str:
        url = f"{gateway.base_url}/widget/frame.html?touchpoint={touchpoint}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.headers["Content-Security-Policy"])

    port = gateway.port
    assert f"frame-ancestors http://127.0.0.1:{port} https://127.0.0.1:{port};" in csp(
        "tp_demo_127"
    )
    assert (
        f"frame-ancestors http://localhost:{port} http://localhost.:{port} "
        f"https://localhost:{port} https://localhost.:{port};"
    ) in csp("tp_demo_localhost")
    assert "frame-ancestors 'none';" in csp("tp_nope")


@pytest.mark.parametrize(
    ("domain", "sources"),
    [
        (
            "example.com",
            "http://example.com http://www.example.com http://example.com. http://www.example.com. "
            "https://example.com https://www.example.com https://example.com. "
            "https://www.example.com.",
        ),
        (
            "https://Shop.Example.com",
            "https://shop.example.com https://www.shop.example.com https://shop.example.com. "
            "https://www.shop.example.com.",
        ),
        (
            "*.example.com",
            "http://example.com http://*.example.com http://example.com. http://*.example.com. "
            "https://example.com https://*.example.com https://example.com. https://*.example.com.",
        ),
        (
            "http://www.example.com:8080",
            "http://example.com:8080 http://www.example.com:8080 http://example.com.:8080 "
            "http://www.example.com.:8080",
        ),
        (
            "https://example.com:443",
            "https://example.com https://www.example.com https://example.com. "
            "https://www.example.com.",
        ),
        (
            "localhost:8000",
            "http://localhost:8000 http://localhost.:8000 https://localhost:8000 "
            "https://localhost.:8000",
        ),
        ("127.0.0.1", "http://127.0.0.1 https://127.0.0.1"),
        # CSP has no IPv6 sources (browsers drop them): such a domain is invalid
        ("[::1]:9000", "'none'"),
        (
            "bücher.example",
            "http://xn--bcher-kva.example http://www.xn--bcher-kva.example "
            "http://xn--bcher-kva.example. http://www.xn--bcher-kva.example. "
            "https://xn--bcher-kva.example https://www.xn--bcher-kva.example "
            "https://xn--bcher-kva.example. https://www.xn--bcher-kva.example.",
        ),
        ("example.com/shop", "'none'"),
        ("", "'none'"),
    ],
)
def test_frame_ancestors_mirror_domain_matching(domain: str, sources: str) -> None:
    assert frame_ancestors(domain) == sources


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def test_size_budget(record_property: Callable[[str, object], None]) -> None:
    """The loader under 5 KB gzipped, the whole widget (loader, frame page, app, shared
    modules, styles) under 60 KB gzipped. The demo shop's own files do not count."""
    files = sorted(
        p for p in WIDGET.rglob("*") if p.is_file() and "demo" not in p.relative_to(WIDGET).parts
    )
    loader = gz(WIDGET / "loader.js")
    total = sum(gz(p) for p in files)
    record_property("loader_gzip_bytes", loader)
    record_property("widget_gzip_bytes", total)
    print(
        f"\nwidget sizes (gzip -9): loader.js {loader} B; whole widget {total} B over {len(files)} files"
    )
    assert {p.name for p in files} >= {
        "loader.js",
        "frame.html",
        "app.js",
        "frame.css",
        "socket.js",
        "dom.js",
        "i18n.js",
    }
    assert loader < 5 * 1024
    assert total < 60 * 1024
