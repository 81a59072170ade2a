"""Priority shown as numbers (the global setting ``priority_display``, docs/console.md,
"Lists"): the Inbox row, the offer, the Assigned row and the conversation's header show
the conversation's priority as its number, not as icons; the setting reaches a console with its next snapshot (a reload or a
reconnect), an open console keeps what it showed."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import (
    ADMIN,
    NewPage,
    accept_offer,
    login,
    open_widget,
    start_chat,
)
from tests.browser.test_actions import set_status

pytestmark = pytest.mark.browser

PRIORITY = 7  # above the 5 icons show: a number is not capped


def set_display(base: str, display: str) -> None:
    token = login_token(base, *ADMIN)
    r = httpx.patch(
        base + "/api/admin/settings",
        json={"priority_display": display},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["priority_display"] == display, r.text


def assert_number(row: Locator) -> None:
    prio = row.locator(".prio")
    expect(prio).to_have_text(f"Priority {PRIORITY}")  # "Priority " for screen readers
    expect(prio).to_have_class(re.compile(r"\bnum\b"))
    expect(prio.locator(":scope > :not(.sr-only)")).to_have_count(0)
    assert prio.evaluate("e => e.lastChild.textContent") == str(PRIORITY)  # what is seen
    expect(row.get_by_role("img", name=re.compile("Priority"))).to_have_count(0)
    expect(row).not_to_contain_text("▲")


def assert_icons(row: Locator) -> None:
    icons = row.get_by_role("img", name=f"Priority {PRIORITY}")
    expect(icons).to_be_visible()
    expect(icons).to_have_text("▲" * 5)  # icons stop at 5
    expect(row.locator(".prio.num")).to_have_count(0)


def test_priority_as_numbers_in_inbox_and_assigned(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    token = login_token(base, *ADMIN)
    r = httpx.patch(
        base + "/api/admin/touchpoints/tp_demo_127",
        json={"flow": {"default": {"priority": PRIORITY}}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["flow"]["default"]["priority"] == PRIORITY, r.text
    set_display(base, "numbers")

    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Noor", "noor@example.com", "Is the blue one in stock?")

    # Ringing: the offer and its Inbox row show the number.
    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    row = inbox.get_by_role("listitem").filter(has_text="Noor")
    expect(row).to_contain_text("Ringing")
    assert_number(row)
    assert_number(agent.get_by_role("alertdialog", name="Incoming chat"))
    accept_offer(agent, "Noor")
    # Assigned: its row in Assigned to you and the open conversation's header.
    assigned = agent.get_by_role("region", name=re.compile("^Assigned to you"))
    mine = assigned.get_by_role("listitem").filter(has_text="Noor")
    assert_number(mine)
    assert_number(agent.get_by_role("main", name="Conversation with Noor"))

    # Back to icons: the open console keeps numbers (the setting comes with the
    # snapshot), also on a row drawn after the change ...
    set_display(base, "icons")
    set_status(agent, "Away")  # so that it waits in the Inbox
    agent.get_by_role("button", name="Send to inbox").click()
    expect(row.get_by_role("button", name="Assign Noor")).to_be_visible()
    assert_number(row)
    # ... and shows icons once it has a new snapshot (here after a reload).
    agent.reload()
    expect(agent.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    expect(row.get_by_role("button", name="Assign Noor")).to_be_visible()
    assert_icons(row)
    # Assigned again: its Assigned row shows the icons too (one click: the frames that
    # still come after a reload keep the row, test_console_rows_kept.py).
    row.get_by_role("button", name="Assign Noor").click()
    expect(mine.get_by_role("button", name=re.compile("Noor"))).to_be_visible()
    assert_icons(mine)
