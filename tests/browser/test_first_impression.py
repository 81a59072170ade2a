"""What a new user meets: nobody online (the widget says so before anyone types and
offers to leave a message), waiting notices that stay, the visitor ending and rating a
chat, links, dark mode, the launcher as a close control, the iframe demo's button, and a
page refused its chat (one clear console message, recorded for the admin)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import (
    ADMIN,
    NewPage,
    axe_audit,
    chat_frame,
    login,
    open_widget,
    page_site,
    reply,
    shot,
    start_chat,
)
from tests.browser.test_accessibility import report

pytestmark = pytest.mark.browser


def test_nobody_online_leave_a_message_answered_on_the_next_visit(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    visitor: Page = new_page(bypass_csp=True)
    visitor.goto(base + "/demo")
    frame = open_widget(visitor)
    # Said before the visitor types: nobody can answer (not "all agents are busy").
    notice = frame.get_by_text("Nobody can answer right now")
    expect(notice).to_be_visible()
    expect(frame.get_by_role("button", name="Start chat")).to_have_count(0)
    send = frame.get_by_role("button", name="Send message")
    # The email is required to leave a message, and the message itself.
    frame.get_by_role("textbox", name="Your name").fill("Nadia")
    send.click()
    email = frame.get_by_role("textbox", name="Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    message = frame.get_by_role("textbox", name="Your message")
    expect(message).to_have_attribute("aria-invalid", "true")
    found = {"widget, nobody online, form with errors": axe_audit(visitor)}
    shot(visitor, "widget-leave-message")
    email.fill("nadia@example.com")
    message.fill("Can you ship to Norway?")
    send.click()
    messages = frame.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("Can you ship to Norway?")
    expect(messages).to_contain_text("we got your message")
    found["widget, message left"] = axe_audit(visitor)

    # An agent comes: the left message waits in the Inbox, marked, ringing nobody.
    agent: Page = login(new_page(), base)
    row = agent.get_by_role("list", name="Inbox").get_by_role("listitem").filter(has_text="Nadia")
    expect(row).to_contain_text("Left a message")
    row.get_by_role("button", name="Assign Nadia").click()
    expect(agent.get_by_role("heading", name="Nadia", level=2)).to_be_visible()
    expect(agent.get_by_role("alertdialog", name="Incoming chat")).to_be_hidden()
    # No mailbox answers for the demo site: the agent is told where the answer goes.
    expect(
        agent.get_by_text("the visitor sees your answer on their next visit only")
    ).to_be_visible()
    reply(agent, "Yes! See https://example.com/shipping?to=no and javascript:alert(1)")
    link = agent.get_by_role("list", name="Messages").get_by_role(
        "link", name="https://example.com/shipping?to=no"
    )
    expect(link).to_have_attribute("rel", "noopener noreferrer")

    # The visitor's next visit shows the answer, its link clickable and safe.
    visitor.reload()
    frame = chat_frame(visitor)
    expect(visitor.get_by_role("button", name="Minimise chat")).to_be_visible()  # still open
    answer = frame.get_by_role("list", name="Messages")
    link = answer.get_by_role("link", name="https://example.com/shipping?to=no")
    expect(link).to_have_attribute("href", "https://example.com/shipping?to=no")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(answer.get_by_role("link", name=re.compile("javascript"))).to_have_count(0)
    expect(answer).to_contain_text("javascript:alert(1)")

    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())


def test_waiting_notice_back_to_the_queue_end_and_rating(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    visitor: Page = new_page(bypass_csp=True)
    visitor.goto(base + "/demo")
    frame = open_widget(visitor)
    frame = start_chat(visitor, "Wes", "wes@example.com", "Where is my order?")
    messages = frame.get_by_role("list", name="Messages")
    waiting = messages.get_by_text("An agent will be with you shortly")
    # The waiting notice stays after the first message, until an agent joins.
    expect(waiting).to_be_visible()
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    ring.get_by_role("button", name="Accept").click()
    expect(messages).to_contain_text("joined the chat")
    expect(waiting).to_have_count(0)
    # Sent back to the queue: the visitor is told so, and waits again.
    agent.get_by_role("button", name="Send to inbox").click()
    expect(messages).to_contain_text("passed your chat back to the queue")
    expect(messages.get_by_text("You are back in the queue")).to_be_visible()
    agent.get_by_role("button", name="Assign Wes").click()
    expect(messages.get_by_text("You are back in the queue")).to_have_count(0)

    # The visitor ends it: asked twice, then the rating.
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Keep chatting").click()
    expect(frame.get_by_role("textbox", name="Message")).to_be_visible()
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Yes, end it").click()
    expect(messages).to_contain_text("You ended the chat.")
    rating = frame.get_by_role("form", name="How was this chat?")
    expect(rating).to_be_visible()
    found = {"widget, rating": axe_audit(visitor)}
    rating.get_by_role("button", name="Send rating").click()
    expect(rating.get_by_role("alert")).to_contain_text("Choose from 1 to 5 stars")
    rating.get_by_role("radio", name="4 stars").check()
    rating.get_by_role("textbox", name=re.compile("Anything to add")).fill("Quick, thanks")
    shot(visitor, "widget-rating")
    rating.get_by_role("button", name="Send rating").click()
    expect(frame.get_by_role("status").filter(has_text="Thank you for your rating")).to_be_visible()
    # The agent's console says why it ended; wrap-up follows as usual.
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("The visitor ended the chat")
    expect(agent.get_by_role("form", name="Wrap-up")).to_be_visible()
    token = login_token(base, *ADMIN)
    ratings = httpx.get(
        base + "/api/admin/ratings", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [(r["score"], r["comment"]) for r in ratings["items"]] == [(4, "Quick, thanks")]
    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())


def test_dark_mode_follows_the_system_in_both_clients(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    agent: Page = new_page(bypass_csp=True, color_scheme="dark")
    login(agent, base)
    background = agent.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(11, 18, 32)", background
    found = {"console, dark": axe_audit(agent)}
    visitor: Page = new_page(bypass_csp=True, color_scheme="dark")
    visitor.goto(base + "/demo")
    frame = open_widget(visitor)
    expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
    body = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert body == "rgb(17, 24, 39)", body
    found["widget form, dark"] = axe_audit(visitor)
    start_chat(visitor, "Dora", "dora@example.com", "In the dark")
    found["widget conversation, dark"] = axe_audit(visitor)
    shot(visitor, "widget-dark")
    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())


def test_the_launcher_becomes_the_close_control(new_page: NewPage, gateway: GatewayProcess) -> None:
    page: Page = new_page()
    page.goto(gateway.base_url + "/demo")
    launcher = page.get_by_role("button", name=re.compile("^Open chat"))
    chat_icon, close_icon = launcher.locator("svg.i"), launcher.locator("svg.x")
    expect(chat_icon).to_be_visible()
    expect(close_icon).to_be_hidden()
    launcher.click()
    close = page.get_by_role("button", name="Minimise chat")
    expect(close).to_have_attribute("aria-expanded", "true")
    expect(close.locator("svg.x")).to_be_visible()
    expect(close.locator("svg.i")).to_be_hidden()
    close.click()
    expect(
        page.get_by_role("button", name=re.compile("^Open chat")).locator("svg.i")
    ).to_be_visible()


def test_talk_to_us_on_the_iframe_demo_moves_into_the_chat(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    """The button did nothing: there is no loader on that page."""
    page: Page = new_page()
    page.goto(gateway.base_url + "/demo/iframe")
    frame = page.frame_locator("iframe[title='Chat with us']")
    expect(frame.get_by_role("textbox", name="Your name")).to_be_visible()
    page.get_by_role("button", name="Talk to us").click()
    expect(frame.get_by_role("textbox", name="Your name")).to_be_focused()


def test_a_refused_page_logs_one_clear_message_and_the_admin_sees_it(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    """Pasting the snippet on an unregistered site used to show nothing but the
    browser's frame-ancestors error."""
    base = gateway.base_url
    html = (
        "<!doctype html><html lang='en'><head><title>Shop</title></head><body><h1>Shop</h1>"
        f"<script src='{base}/widget/loader.js' data-touchpoint='tp_demo_127' async></script>"
        "</body></html>"
    )
    # A site the touchpoint does not cover: another port of the same host, served by a
    # real server of the test's own (the browser lets loopback pages reach loopback).
    with shop_site(html) as shop:
        refused_page_logs(new_page(), base, shop)


@contextlib.contextmanager
def shop_site(html: str) -> Iterator[str]:
    with page_site(html) as port:
        yield f"http://127.0.0.1:{port}"


def refused_page_logs(page: Page, base: str, shop: str) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    with page.expect_console_message(lambda m: "GatewayChat" in m.text) as logged:
        page.goto(f"{shop}/cart?session=secret")
    message = f"{logged.value.type}: {logged.value.text}"
    assert message.startswith("error: GatewayChat: touchpoint tp_demo_127 is not shown")
    assert f"127.0.0.1:{base.rsplit(':', 1)[1]}" in message and f"{base}/admin" in message
    assert not [m for m in console if "frame-ancestors" in m]
    assert page.locator("[data-gateway-chat]").count() == 0  # nothing framed, no launcher
    token = login_token(base, *ADMIN)
    rows = httpx.get(
        base + "/api/admin/touchpoints/tp_demo_127/refusals",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert [(r["origin"], r["page_url"]) for r in rows] == [(shop, f"{shop}/cart")]
    assert len([m for m in console if "GatewayChat" in m]) == 1, console
