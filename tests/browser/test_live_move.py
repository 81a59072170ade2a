"""A supervisor's Live view in a real Chromium (FAQ 18): a chat ringing in the wrong
queue is moved to the right one with the row's Move (its offer stops ringing and the row
shows the new queue), and Copy details puts the row as plain text on the clipboard,
saying so to a screen reader (docs/console.md, "Live")."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, login, open_widget, start_chat
from tests.browser.test_actions import set_status

pytestmark = pytest.mark.browser


def add_queue(base: str) -> None:
    """Billing, a queue nobody is in (demo conversations go to Support)."""
    r = httpx.post(
        base + "/api/admin/queues",
        json={"id": "q_billing", "name": "Billing"},
        headers={"Authorization": f"Bearer {login_token(base, *ADMIN)}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text


def test_a_supervisor_moves_a_ringing_chat_and_copies_its_details(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    add_queue(base)
    admin: Page = login(new_page(permissions=["clipboard-read", "clipboard-write"]), base, ADMIN)
    set_status(admin, "Away")  # so that the offer rings for Ada
    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Lin Ko", "lin@example.com", "My invoice is wrong")
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("Lin Ko")

    admin.get_by_role("link", name="Live").click()
    row = admin.locator("#live-conversations tbody tr", has_text="Lin Ko")
    expect(row).to_contain_text("ringing Ada")
    expect(row.get_by_role("button", name="Transfer Lin Ko")).to_have_count(0)
    row.get_by_role("button", name="Move Lin Ko").click()
    dialog = admin.get_by_role("dialog", name="Move Lin Ko to another queue")
    move_to = dialog.get_by_role("combobox", name="Move to")
    # queues only: an agent takes it with Assign; not Support, the only queue it is in
    expect(move_to.locator("option:not([value=''])")).to_have_text(["Billing (queue)"])
    move_to.select_option(label="Billing (queue)")
    dialog.get_by_role("button", name="Move").click()
    expect(dialog).to_be_hidden()

    # it waits in Billing now: Ada's offer stops ringing, saying why
    expect(row.locator("td").nth(1)).to_have_text("Billing")
    expect(row.locator("td").first).to_have_text("waiting")
    expect(ring).to_be_hidden()
    expect(agent.locator("#announcer")).to_have_text(
        "The chat with Lin Ko stopped ringing: a supervisor moved it to another queue."
    )
    expect(admin.locator("#announcer")).to_have_text(
        "The chat with Lin Ko now waits in the Billing queue."
    )

    row.get_by_role("button", name="Copy details Lin Ko").click()
    expect(admin.locator("#announcer")).to_have_text("Copied the details of Lin Ko.")
    copied = str(admin.evaluate("navigator.clipboard.readText()"))
    lines = copied.split("\n")
    assert lines[:6] == [
        "Contact: Lin Ko",
        "Channel: Chat",
        "Touchpoint: Demo site (127.0.0.1)",
        "State: waiting",
        "Queue: Billing",
        "Priority: 1",
    ], copied
    assert re.fullmatch(r"Waiting: \d+ (s|min)", lines[6]), copied
    cid = lines[7].removeprefix("Conversation: ")
    assert cid.startswith("cv_"), copied
    assert lines[8:] == [f"History: {base}/console#history/{cid}"], copied
