"""The core scenario, end to end: a visitor writes from the demo page, the agent hears
the offer ring, accepts and replies; the visitor's badge counts up while minimised and
clears when opened; the conversation follows the visitor to another page; the agent
ends the chat and wraps it up."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import (
    NewPage,
    accept_offer,
    chat_frame,
    end_chat,
    login,
    open_widget,
    reply,
    shot,
    start_chat,
)

pytestmark = pytest.mark.browser


def test_visitor_and_agent_chat(new_page: NewPage, gateway: GatewayProcess) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    shot(agent, "console-empty")

    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    frame = open_widget(visitor)
    # The pre-conversation form comes from the touchpoint: it validates before sending.
    expect(frame.get_by_role("textbox", name="Your name")).to_be_focused()
    frame.get_by_role("textbox", name="Email").fill("not-an-email")
    frame.get_by_role("button", name="Start chat").click()
    email = frame.get_by_role("textbox", name="Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile("email address"))
    expect(email).to_be_focused()
    shot(visitor, "widget-form")
    frame = start_chat(visitor, "Alice", "alice@example.com", "Hello, my parcel is late")
    # Delivery state: sent once the gateway acknowledged it.
    expect(frame.get_by_role("listitem").filter(has_text="my parcel is late")).to_contain_text(
        "Sent"
    )

    # The agent hears the offer (the sound event reaches the page) and sees it ring.
    expect(agent.locator("body")).to_have_attribute("data-last-sound", "offered")
    expect(agent.get_by_role("status").filter(has_text="Sound: offered")).to_be_attached()
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("Alice")
    expect(ring.get_by_text(re.compile(r"Rings for \d+ s more"))).to_be_visible()
    expect(ring.get_by_role("button", name="Accept")).to_be_focused()
    shot(agent, "console-ringing")
    accept_offer(agent, "Alice")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Hello, my parcel is late")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text(
        "Ada (demo agent) joined the chat"
    )

    # The visitor types: the agent sees it.
    frame.get_by_role("textbox", name="Message").press_sequentially("It was", delay=20)
    expect(agent.get_by_text("Alice is typing…")).to_be_visible()
    # The agent types: the visitor sees it.
    agent.get_by_role("textbox", name="Reply").press_sequentially("Let me", delay=20)
    expect(frame.get_by_text("Ada (demo agent) is typing…")).to_be_visible()
    # Enter adds a line in the console; Shift+Enter sends.
    agent.get_by_role("textbox", name="Reply").press("Enter")
    expect(agent.get_by_role("textbox", name="Reply")).to_have_value("Let me\n")
    reply(agent, "Hi Alice, let me check your order.")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("let me check your order")
    # ... and it was announced through the live region.
    expect(frame.locator("[aria-live='polite']#announcer")).to_have_text(
        re.compile("let me check your order")
    )
    frame.get_by_role("textbox", name="Message").fill("Order 1234, thanks!")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(frame.get_by_role("listitem").filter(has_text="Order 1234")).to_contain_text("Sent")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Order 1234, thanks!")
    # The reply sound rode in the message frame (docs/protocol.md): the console plays it.
    expect(agent.locator("body")).to_have_attribute("data-last-sound", "reply")
    expect(agent.locator("body")).to_have_attribute("data-last-sound-name", "pop")
    shot(visitor, "widget-conversation")
    shot(agent, "console-conversation")

    # Minimised, the visitor's badge counts the agent's new messages...
    frame.get_by_role("button", name="Minimise chat").click()
    launcher = visitor.get_by_role("button", name=re.compile("^Open chat"))
    expect(launcher).to_be_focused()
    reply(agent, "Found it: it left the warehouse today.")
    expect(launcher).to_have_accessible_name("Open chat, 1 unread message")
    reply(agent, "It should arrive tomorrow.")
    expect(launcher).to_have_accessible_name("Open chat, 2 unread messages")
    expect(launcher.get_by_text("2", exact=True)).to_be_visible()
    # The host page hears it through the JS API (the demo page shows it in its header).
    expect(visitor.get_by_text("Chat: 2 unread")).to_be_visible()
    shot(visitor, "widget-badge")

    # ... and keeps them on another page of the site, with the conversation.
    visitor.get_by_role("link", name="Delivery").click()
    expect(visitor.get_by_role("heading", name="Delivery and returns")).to_be_visible()
    launcher = visitor.get_by_role("button", name=re.compile("^Open chat"))
    expect(launcher).to_have_accessible_name("Open chat, 2 unread messages")
    frame = open_widget(visitor)
    messages = frame.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("Hello, my parcel is late")
    expect(messages).to_contain_text("It should arrive tomorrow.")
    # Opened, the messages are read: the badge clears, on the page and in the agent's view.
    minimise = visitor.get_by_role("button", name="Minimise chat")
    expect(minimise).to_have_accessible_name("Minimise chat")
    expect(visitor.get_by_text("Chat: 2 unread")).to_be_hidden()
    frame.get_by_role("textbox", name="Message").fill("Great, thank you")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Great, thank you")
    shot(visitor, "widget-other-page")

    # A reload keeps it too, open as it was.
    visitor.reload()
    expect(visitor.get_by_role("button", name="Minimise chat")).to_have_attribute(
        "aria-expanded", "true"
    )
    frame = chat_frame(visitor)
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Great, thank you")

    # The agent ends the chat and wraps it up.
    end_chat(agent, "Alice")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("The chat has ended.")
    expect(frame.get_by_role("button", name="Start a new chat")).to_be_visible()
    wrap = agent.get_by_role("form", name="Wrap-up")
    expect(wrap).to_be_visible()
    expect(agent.get_by_role("textbox", name="Notes")).to_be_focused()
    agent.get_by_role("textbox", name="Notes").fill(
        "Parcel delayed at the warehouse; shipped today."
    )
    agent.get_by_role("combobox", name="Disposition").select_option("Resolved")
    shot(agent, "console-wrapup")
    agent.get_by_role("button", name="Finish wrap-up").click()
    expect(agent.get_by_role("status").filter(has_text="Wrap-up saved")).to_be_visible()
    assigned = agent.get_by_role("region", name=re.compile("^Assigned to you"))
    expect(assigned.get_by_role("button", name=re.compile("Alice"))).to_have_count(0)

    # A reload after the end still shows the finished conversation, ended.
    visitor.reload()
    frame = chat_frame(visitor)
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Great, thank you")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("The chat has ended.")

    # Writing after the end starts a new conversation.
    frame.get_by_role("button", name="Start a new chat").click()
    expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
