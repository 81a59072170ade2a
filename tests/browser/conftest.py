"""Browser tests: a real gateway process and Debian's Chromium driven by Playwright.

One Chromium for the whole session (a new one if it dies), one gateway (demo data,
SQLite) per module. A missing Chromium or Playwright is a failure with the fix in its
message, never a skip: ./scripts/test installs Chromium (scripts/setup-services),
Playwright comes with the project's dev dependencies, and no browser is ever downloaded.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit import services
from tests.poll import until_page

NewPage = Callable[..., "Page"]

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Page,
        Playwright,
        ViewportSize,
        expect,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - reported by the fixture below
    sync_playwright = None  # type: ignore[assignment]
else:
    # Playwright's assertions wait 5 s by default. A login checks its password at a lower
    # CPU priority (gateway/auth.py), so on a busy machine the step from "Log in" to
    # "Connected" alone took longer than that; 15 s is ample.
    expect.set_options(timeout=15_000)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORT: ViewportSize = {"width": 1100, "height": 700}
AGENT = ("agent@demo.test", "demo-agent")
ADMIN = ("admin@demo.test", "demo-admin")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if sync_playwright is None:
        pytest.fail(
            "Playwright is not installed: pip install -e '.[dev]' (never `playwright install`)",
            pytrace=False,
        )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install the Debian package 'chromium' "
            "(./scripts/setup-services does)",
            pytrace=False,
        )
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[list[Browser]]:
    """The session's Chromium, launched on first use (a list: replaced when it dies)."""
    held: list[Browser] = []
    yield held
    for b in held:
        b.close()


@pytest.fixture
def browser(playwright: Playwright, chromium: list[Browser]) -> Browser:
    """The shared Chromium, or a new one when it is gone: a browser that crashed fails
    the test that met it, not every later one (it once died at launch in CI)."""
    if chromium and not chromium[0].is_connected():
        chromium.pop().close()
    if not chromium:
        chromium.append(playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
    return chromium[0]


def demo_gateway() -> services.GatewayProcess:
    return services.start_gateway({"GATEWAY_DEMO": "1", "GATEWAY_OFFER_TIMEOUT": "60"})


@pytest.fixture(scope="module")
def gateway() -> Iterator[services.GatewayProcess]:
    node = demo_gateway()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def node() -> Iterator[services.GatewayProcess]:
    """A gateway of its own per test: the demo agent starts with nothing assigned."""
    gw = demo_gateway()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """new_page() -> a page in its own context (its own storage: another person)."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(**options: Any) -> Page:
        ctx = browser.new_context(**{"viewport": VIEWPORT, **options})
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, f"JavaScript errors: {errors}"


def login(page: Page, base_url: str, who: tuple[str, str] = AGENT) -> Page:
    page.goto(base_url + "/console")
    page.get_by_role("textbox", name="Email", exact=True).fill(who[0])
    page.get_by_role("textbox", name="Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    return page


def chat_frame(page: Page) -> Any:
    """The widget's iframe, as a FrameLocator."""
    return page.locator("iframe[title='Chat']").content_frame


def open_widget(page: Page) -> Any:
    page.get_by_role("button", name=re.compile("^Open chat")).click()
    return chat_frame(page)


def fill_form(page: Page, name: str, email: str, message: str) -> Any:
    """Fill the pre-chat form of an open widget; its frame."""
    frame = chat_frame(page)
    frame.get_by_role("textbox", name="Your name").fill(name)
    frame.get_by_role("textbox", name="Email").fill(email)
    frame.get_by_role("textbox", name="Your message").fill(message)
    return frame


def start_chat(page: Page, name: str, email: str, message: str, button: str = "Start chat") -> Any:
    """Fill the pre-chat form of an open widget and start (``button``: "Send message"
    when nobody can answer and the form leaves a message)."""
    frame = fill_form(page, name, email, message)
    frame.get_by_role("button", name=button).click()
    expect(frame.get_by_role("list", name="Messages").get_by_text(message)).to_be_visible()
    return frame


def accept_offer(agent: Page, contact: str) -> None:
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_be_visible()
    expect(ring).to_contain_text(contact)
    ring.get_by_role("button", name="Accept").click()
    expect(agent.get_by_role("heading", name=contact, level=2)).to_be_visible()


def reply(agent: Page, text: str) -> None:
    box = agent.get_by_role("textbox", name="Reply")
    box.fill(text)
    box.press("Shift+Enter")
    expect(agent.get_by_role("list", name="Messages").get_by_text(text)).to_be_visible()


def end_chat(agent: Page, contact: str) -> None:
    """End chat, confirmed in the dialog that asks first; returns once the wrap-up form
    is on screen (until then "Disposition" names the picker beside the thread)."""
    agent.get_by_role("button", name="End chat").click()
    ask = agent.get_by_role("alertdialog", name=f"End the chat with {contact}?")
    expect(ask).to_be_visible()
    ask.get_by_role("button", name="End chat").click()
    expect(agent.get_by_role("form", name="Wrap-up")).to_be_visible()


class Blip:
    """A network blip for one page: ``start()`` closes its sockets matching ``pattern``
    (1001) and refuses new ones until ``over()``; the gateway keeps running."""

    def __init__(self, page: Page, pattern: str) -> None:
        self.down = False
        self.refused = 0  # sockets the page tried while down
        self.routes: list[Any] = []
        page.route_web_socket(pattern, self._route)

    def _route(self, ws: Any) -> None:
        if self.down:
            self.refused += 1
            ws.close(code=1001, reason="test: network down")
            return
        ws.connect_to_server()
        self.routes.append(ws)

    def start(self) -> None:
        self.down = True
        for ws in self.routes:
            ws.close(code=1001, reason="test: network down")
        self.routes.clear()

    def over(self) -> None:
        self.down = False

    def until_retried(self, page: Page, within: float = 20.0) -> None:
        """Until the page tried a socket while down (it saw the drop and reconnects,
        the first try within half a second): returns at that event, where waiting for
        the widget's "Reconnecting…" took its 8 s. Playwright delivers the route's
        callbacks while it waits, so this waits in its short steps."""
        until_page(page, lambda: self.refused, what="the page trying to reconnect", within=within)


class HeldFrames:
    """The page's agent socket through a route that keeps the page's frames of one type
    from the server: ``release()`` sends the oldest on, ``refuse()`` answers it as the
    gateway refuses one, ``drop()`` closes the socket (1001) and the next connects.
    Playwright's sync API runs the route only while the test calls into it: wait for
    ``held`` with ``tests.poll.until_page``."""

    def __init__(self, page: Page, kind: str, pattern: str = "**/ws/agent") -> None:
        self.kind = kind
        self.held: list[str] = []
        self.sockets: list[tuple[Any, Any]] = []  # (the page's side, the server's)
        page.route_web_socket(pattern, self._route)

    def _route(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self.sockets.append((ws, server))

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and json.loads(message).get("type") == self.kind:
                self.held.append(message)
            else:
                server.send(message)

        ws.on_message(from_page)

    def release(self) -> None:
        self.sockets[-1][1].send(self.held.pop(0))

    def refuse(self, code: str, message: str) -> None:
        """Answer the held frame with an `error` frame of its ref (the gateway's own
        refusals of a status need its store down)."""
        ref = json.loads(self.held.pop(0))["ref"]
        error = {"type": "error", "code": code, "message": message, "retryable": True, "ref": ref}
        self.sockets[-1][0].send(json.dumps(error))

    def drop(self) -> None:
        self.sockets.pop()[0].close(code=1001, reason="test: network down")


def shot(page: Page, name: str) -> None:
    """Save a screenshot for docs/ (PNG, kept small)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", scale="css")


def axe_audit(page: Page, include: str | None = None) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page (and its same-origin frames)."""
    if not AXE.exists():
        pytest.fail(
            f"axe-core is missing ({AXE}): run `npm ci --prefix tests/browser` "
            "(./scripts/setup-services does)",
            pytrace=False,
        )
    source = AXE.read_text()
    page.add_script_tag(content=source)
    for frame in page.frames[1:]:
        frame.add_script_tag(content=source)
    result = page.evaluate(
        """async (include) => {
            const r = await axe.run(include ? {include: [include]} : document,
                {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary).slice(0, 5)}));
        }""",
        include,
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


@contextlib.contextmanager
def page_site(html: str, headers: dict[str, str] | None = None) -> Iterator[int]:
    """A site on 127.0.0.1 (a server of its own, another origin than the gateway's)
    answering every GET with ``html`` and ``headers``; yields its port."""
    body = html.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
