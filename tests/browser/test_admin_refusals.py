"""The admin section after a refused save: the refusal goes once the save is corrected,
a save that worked is seen (not only heard), an emptied "Close idle chats after" is
refused rather than read as 0 (never), and refusals do not pile up (docs/admin.md)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage
from tests.browser.test_admin_section import log_in

pytestmark = pytest.mark.browser


def test_settings_refused_then_saved_and_an_empty_idle_time_refused(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    page: Page = new_page()
    log_in(page, base)
    page.get_by_role("navigation", name="Admin sections").get_by_role(
        "link", name="Settings"
    ).click()
    chat = page.get_by_role("spinbutton", name="Chat", exact=True)
    save = page.get_by_role("button", name="Save settings")
    chat.fill("150")
    save.click()
    expect(chat).to_have_attribute("aria-invalid", "true")
    expect(page.locator("ul.problems")).to_contain_text("channel_weights.chat")
    chat.fill("30")
    save.click()
    expect(
        page.get_by_text("Settings saved.", exact=True).and_(page.locator(".saved"))
    ).to_be_visible()
    expect(chat).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("ul.problems")).to_be_empty()
    idle = page.get_by_role("spinbutton", name=re.compile("Close idle chats after"))
    idle.fill("")
    save.click()
    expect(idle).to_have_attribute("aria-invalid", "true")
    expect(idle).to_have_accessible_description(re.compile("Enter a number of minutes"))
    expect(page.locator(".saved")).to_be_hidden()
    token = login_token(base, *ADMIN)
    stored = httpx.get(
        base + "/api/admin/settings", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert stored["idle_close_after"] == 900
    assert stored["channel_weights"]["chat"] == 30


def test_a_refused_queue_rename_shows_one_error(new_page: NewPage, gateway: GatewayProcess) -> None:
    page: Page = new_page()
    log_in(page, gateway.base_url)
    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Queues").click()
    row = page.locator("form.bar-line").first
    refused = page.locator("#section p.err[role=alert]")
    for _ in range(3):
        refused.evaluate_all("ps => ps.forEach(p => { p.dataset.seen = '1'; })")
        row.get_by_role("textbox").fill("")
        row.get_by_role("button", name="Rename").click()
        # This refusal is shown, and only it.
        expect(page.locator("#section p.err[role=alert]:not([data-seen])")).to_have_count(1)
        expect(refused).to_have_count(1)
