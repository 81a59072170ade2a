"""The console through a network blip and behind its other sections: replies written
while the gateway cannot be reached are sent after the reconnect wherever they were
written, what cannot be done while disconnected says so, and the open conversation is
read only while it is on screen (docs/console.md, "Session" and "Conversation view").

A blip is Playwright closing the page's socket and refusing new ones until it is over:
the gateway keeps running, as it does when an agent's network drops."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devkit import services
from tests.browser.conftest import Blip, NewPage, accept_offer, login, open_widget, start_chat

pytestmark = pytest.mark.browser


def agent_with_blip(new_page: NewPage, base: str) -> tuple[Page, Blip]:
    page = new_page()
    blip = Blip(page, "**/ws/agent")
    login(page, base)
    return page, blip


def visitor(new_page: NewPage, base: str, agent: Page, name: str) -> Any:
    page = new_page()
    page.goto(base + "/demo")
    frame = open_widget(page)
    start_chat(page, name, f"{name.lower()}@example.com", f"hello from {name}")
    accept_offer(agent, name)
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("joined the chat")
    return frame


def open_row(agent: Page, name: str) -> None:
    agent.locator("#assigned-list button.open", has_text=name).click()
    expect(agent.get_by_role("heading", name=name, level=2)).to_be_visible()


def write(agent: Page, text: str) -> None:
    box = agent.get_by_role("textbox", name="Reply")
    box.fill(text)
    box.press("Shift+Enter")
    expect(
        agent.get_by_role("list", name="Messages").get_by_role("listitem").filter(has_text=text)
    ).to_contain_text("Sending…")


def test_replies_written_while_down_are_sent_after_the_reconnect_wherever_written(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent, blip = agent_with_blip(new_page, node.base_url)
    una = visitor(new_page, node.base_url, agent, "Una")
    vic = visitor(new_page, node.base_url, agent, "Vic")
    open_row(agent, "Una")
    blip.start()
    expect(agent.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    write(agent, "to Una while down")
    # The agent moves on to Vic's conversation, writes there too, and Vic ends the chat
    # before the console is back: that reply cannot go, and must not vanish.
    open_row(agent, "Vic")
    write(agent, "to Vic while down")
    vic.get_by_role("button", name="End chat").click()
    vic.get_by_role("button", name="Yes, end it").click()
    expect(vic.get_by_role("list", name="Messages")).to_contain_text("You ended the chat.")
    blip.over()
    expect(agent.get_by_role("status").filter(has_text="Connected")).to_be_visible(timeout=30_000)
    # Una's conversation is not on screen: the reply is sent all the same, once.
    expect(una.get_by_role("list", name="Messages")).to_contain_text(
        "to Una while down", timeout=20_000
    )
    expect(agent.locator("#conv .alert")).to_contain_text(
        "Not sent after the reconnect: your reply to Vic"
    )
    mine = (
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="to Vic while down")
    )
    expect(mine).to_contain_text("Not sent: the chat has ended")
    expect(vic.get_by_role("list", name="Messages")).not_to_contain_text("to Vic while down")
    open_row(agent, "Una")
    sent = (
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="to Una while down")
    )
    expect(sent).to_have_count(1)
    expect(sent).not_to_contain_text("Sending…")
    expect(una.get_by_role("list", name="Messages").get_by_text("to Una while down")).to_have_count(
        1
    )


def test_what_cannot_be_done_while_disconnected_says_so(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent, blip = agent_with_blip(new_page, node.base_url)
    v = new_page()
    v.goto(node.base_url + "/demo")
    open_widget(v)
    start_chat(v, "Ann", "ann@example.com", "ring me")
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("Ann")
    blip.start()
    expect(agent.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    # Accept and Reject while down: said in the ringing dialog, which stays.
    ring.get_by_role("button", name="Accept").click()
    expect(ring.locator(".alert")).to_contain_text("Not connected: nothing was done.")
    ring.get_by_role("button", name="Reject").click()
    expect(ring).to_be_visible()
    blip.over()
    expect(agent.get_by_role("status").filter(has_text="Connected")).to_be_visible(timeout=30_000)
    accept_offer(agent, "Ann")
    blip.start()
    expect(agent.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    # Away while down: said, kept, and in force once connected again.
    agent.locator("#status").select_option("away")
    expect(agent.locator("#conv .alert")).to_have_text(
        "Not connected: you will be away as soon as the console is connected again."
    )
    # End chat while down: said above the conversation, which stays as it was.
    agent.get_by_role("button", name="End chat").click()
    agent.get_by_role("alertdialog", name="End the chat with Ann?").get_by_role(
        "button", name="End chat"
    ).click()
    expect(agent.locator("#conv .alert")).to_contain_text("Not connected: nothing was done.")
    expect(agent.get_by_role("textbox", name="Reply")).to_be_visible()
    blip.over()
    expect(agent.get_by_role("status").filter(has_text="Connected")).to_be_visible(timeout=30_000)
    expect(agent.locator("#status")).to_have_attribute("data-status", "away")
    expect(agent.locator("#status")).to_have_value("away")


def test_the_open_conversation_is_read_only_while_on_screen(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent = login(new_page(), node.base_url)
    kim = visitor(new_page, node.base_url, agent, "Kim")
    agent.locator("#sections a[href='#history']").click()
    expect(agent.get_by_role("heading", name="History", level=2)).to_be_visible()
    kim.get_by_role("textbox", name="Message").fill("are you there?")
    kim.get_by_role("textbox", name="Message").press("Enter")
    expect(agent).to_have_title("(1) Agent console")
    # What the server counts: a second console shows the bubble.
    other = login(new_page(), node.base_url)
    expect(other.locator("#assigned-list .unread")).to_have_text("1 unread")
    # Back to Conversations: on screen, so read.
    agent.locator("#sections a[href='#conversations']").click()
    expect(agent).to_have_title("Agent console")
    expect(other.locator("#assigned-list .unread")).to_have_count(0)
