"""The admin section shows the section last asked for: a section whose list is still
loading when the admin clicks on renders, once its answer comes, into the page it had
(replaced), never over the section on screen (docs/console.md, "The admin section").
Before, the slower Agents list took the page from Queues, and the URL and the menu said
Queues. And activating a touchpoint keeps what the admin has changed and not saved in
its editor (it drew the whole editor again from the saved row)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import NewPage
from tests.browser.test_admin_section import log_in
from tests.poll import until_page

pytestmark = pytest.mark.browser


def test_a_slow_section_does_not_draw_over_the_next(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    page: Page = new_page()
    log_in(page, gateway.base_url)
    nav = page.get_by_role("navigation", name="Admin sections")
    expect(nav.get_by_role("link", name="Touchpoints")).to_have_attribute("aria-current", "page")
    held: list[Any] = []
    page.route("**/api/admin/agents", lambda route: held.append(route))  # its answer, held
    nav.get_by_role("link", name="Agents").click()
    until_page(page, lambda: held, what="the Agents list asked for")
    page.evaluate("() => { window.agentsPage = document.getElementById('section'); }")
    nav.get_by_role("link", name="Queues").click()
    expect(page.get_by_role("form", name="Add a queue")).to_be_visible()

    held[0].continue_()  # the Agents list comes now
    page.wait_for_function("() => window.agentsPage.querySelector('a[href^=\"#agents/\"]')")
    expect(page.get_by_role("form", name="Add a queue")).to_be_visible()
    expect(page.locator('#section a[href^="#agents/"]')).to_have_count(0)
    expect(nav.get_by_role("link", name="Queues")).to_have_attribute("aria-current", "page")


def test_deactivating_keeps_the_editors_unsaved_changes(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    page: Page = new_page()
    log_in(page, gateway.base_url)
    page.get_by_role("table", name="Touchpoints").get_by_role(
        "link", name="Demo site (localhost)"
    ).click()
    name = page.get_by_role("textbox", name="Name (internal)")
    name.fill("Demo site, renamed")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("button", name="Activate")).to_be_focused()
    expect(name).to_have_value("Demo site, renamed")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("button", name="Deactivate")).to_be_visible()
    expect(name).to_have_value("Demo site, renamed")


def test_a_mailboxs_connection_follows_its_activation(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    """Only the State panel and, for a mailbox, its Connection are drawn again: the
    Connection said "read only while the touchpoint is active" after Activate."""
    page: Page = new_page()
    log_in(page, gateway.base_url)
    page.get_by_role("table", name="Touchpoints").get_by_role("link", name="Demo Support").click()
    connection = page.get_by_role("region", name="Connection")
    expect(connection).to_contain_text("Connected")
    page.get_by_role("button", name="Deactivate").click()
    expect(connection).to_contain_text("the mailbox is read only while the touchpoint is active")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("button", name="Deactivate")).to_be_visible()
    expect(connection).not_to_contain_text("read only while the touchpoint is active")
