"""The admin section shows the section last asked for: a section whose list is still
loading when the admin clicks on renders, once its answer comes, into the page it had
(replaced), never over the section on screen (docs/console.md, "The admin section"). Before, the slower
Agents list took the page from Queues, and the URL and the menu said Queues."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import NewPage
from tests.browser.test_admin_section import log_in
from tests.poll import until_sync

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
    until_sync(lambda: page.wait_for_timeout(20) or held, what="the Agents list asked for")
    page.evaluate("() => { window.agentsPage = document.getElementById('section'); }")
    nav.get_by_role("link", name="Queues").click()
    expect(page.get_by_role("form", name="Add a queue")).to_be_visible()

    held[0].continue_()  # the Agents list comes now
    page.wait_for_function("() => window.agentsPage.querySelector('a[href^=\"#agents/\"]')")
    expect(page.get_by_role("form", name="Add a queue")).to_be_visible()
    expect(page.locator('#section a[href^="#agents/"]')).to_have_count(0)
    expect(nav.get_by_role("link", name="Queues")).to_have_attribute("aria-current", "page")
