"""A supervisor monitoring a chat that closes, in a real Chromium: the console says it
closed, turns the monitor off on the server at once (it would count towards the
socket's 20 monitors until then: docs/protocol.md, ``monitor``) and keeps the read-only
view until its Close."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, WebSocket, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import (
    ADMIN,
    NewPage,
    accept_offer,
    end_chat,
    login,
    open_widget,
    start_chat,
)

pytestmark = pytest.mark.browser


def test_a_monitored_chat_that_closes_is_shown_closed_and_its_monitor_ends(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    admin: Page = new_page(bypass_csp=True)
    sent: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: sent.append(str(payload)))

    admin.on("websocket", watch)
    login(admin, base, ADMIN)
    admin.get_by_role("combobox", name="Status").select_option("away")
    expect(admin.get_by_role("combobox", name="Status")).to_have_value("away")

    agent: Page = login(new_page(bypass_csp=True), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Mo Chen", "mo@example.com", "Is it in stock?")
    accept_offer(agent, "Mo Chen")

    admin.get_by_role("link", name="Live").click()
    admin.get_by_role("button", name="Monitor Mo Chen").click()
    expect(admin.get_by_text("Monitoring Mo Chen (read only)")).to_be_visible()
    expect(admin.get_by_role("list", name="Messages")).to_contain_text("Is it in stock?")

    # The agent ends it and finishes the wrap-up: the conversation closes.
    end_chat(agent, "Mo Chen")
    agent.get_by_role("combobox", name="Disposition").select_option("Resolved")
    agent.get_by_role("button", name="Finish wrap-up").click()
    expect(agent.get_by_role("status").filter(has_text="Wrap-up saved")).to_be_visible()

    closed = "Mo Chen's conversation has closed (read only)"
    # in the view's header, and said to a screen reader (the announcer)
    expect(admin.locator("#announcer")).to_have_text(closed)
    expect(admin.get_by_text(closed).and_(admin.locator(":not(#announcer)"))).to_be_visible()
    expect(admin.get_by_role("list", name="Messages")).to_contain_text("Is it in stock?")
    expect(admin.get_by_role("button", name="Stop monitoring")).to_have_count(0)
    offs = [f for f in sent if '"monitor"' in f and re.search(r'"on":\s*false', f)]
    assert len(offs) == 1, sent  # turned off on the server once, without a click

    admin.get_by_role("button", name="Close", exact=True).click()
    expect(admin.get_by_text(closed).and_(admin.locator(":not(#announcer)"))).to_have_count(0)
    expect(admin.get_by_role("button", name="Close", exact=True)).to_have_count(0)
    expect(admin.get_by_role("list", name="Messages")).to_have_count(0)
    assert len([f for f in sent if '"monitor"' in f and re.search(r'"on":\s*false', f)]) == 1
