"""The console asks for attention while it is in the background: desktop notifications
(when the agent turned them on in Settings and the browser allows them) for a ringing
chat and for a reply, and none while the console is on screen or the setting is off.

Chromium grants the permission through the browser context; the page is made to look
hidden (a headless tab is always "visible"), and the Notification constructor records
what it was asked to show before the real one runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import ADMIN, NewPage, login, open_widget, start_chat

pytestmark = pytest.mark.browser

RECORD = """
(() => {
  const Real = window.Notification;
  window.__shown = [];
  window.__hidden = false;
  Object.defineProperty(document, "visibilityState", {
    get: () => (window.__hidden ? "hidden" : "visible"),
  });
  function Recording(title, options) {
    window.__shown.push(title);
    return new Real(title, options);
  }
  Object.defineProperty(Recording, "permission", { get: () => Real.permission });
  Recording.requestPermission = (...a) => Real.requestPermission(...a);
  window.Notification = Recording;
})();
"""


def shown(page: Page) -> list[str]:
    return list(page.evaluate("window.__shown"))


def test_desktop_notifications_only_in_the_background_and_when_chosen(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    admin = login(new_page(), base, ADMIN)
    admin.get_by_role("combobox", name="Status").select_option("away")
    expect(admin.get_by_role("combobox", name="Status")).to_have_value("away")

    page = new_page(permissions=["notifications"])
    page.add_init_script(RECORD)
    agent = login(page, base)
    # Off by default: a chat ringing while the console is hidden notifies nobody.
    agent.evaluate("window.__hidden = true")
    visitor = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    frame = start_chat(visitor, "Noor", "noor@example.com", "Hello there")
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("Noor")
    assert shown(agent) == []
    ring.get_by_role("button", name="Accept").click()
    expect(agent.get_by_role("heading", name="Noor", level=2)).to_be_visible()

    agent.evaluate("window.__hidden = false")
    agent.get_by_role("link", name="Settings").click()
    agent.get_by_role("checkbox", name=re.compile("^Desktop notifications")).check()
    expect(agent.get_by_role("checkbox", name=re.compile("^Desktop notifications"))).to_be_checked()
    agent.get_by_role("link", name="Conversations").click()

    # On screen: the reply shows in the console, no notification.
    frame.get_by_role("textbox", name="Message").fill("Are you there?")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Are you there?")
    assert shown(agent) == []

    # In the background: the reply is a desktop notification.
    agent.evaluate("window.__hidden = true")
    frame.get_by_role("textbox", name="Message").fill("Hello again")
    frame.get_by_role("textbox", name="Message").press("Enter")
    # (wait_for_function polls by eval, which the console's CSP refuses: poll from here)
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Hello again")
    for _ in range(300):
        if shown(agent):
            break
        agent.wait_for_timeout(100)
    assert shown(agent) == ["Noor wrote"]
