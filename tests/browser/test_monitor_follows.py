"""A supervisor monitoring a conversation whose state changes through other agents'
actions, in a real Chromium: the monitor's header follows the live view's
``live_update`` rows (docs/console.md, "Live"), not the row monitoring began with. It
names the state and agent, shows the queues, and offers Transfer only while the
conversation is assigned. The Inbox rows a supervisor gets (they see every waiting
conversation) told the header some of it before; a wrap-up, the agent and the queues
only the live view tells."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import (
    ADMIN,
    NewPage,
    accept_offer,
    end_chat,
    login,
    open_widget,
    start_chat,
)
from tests.browser.test_actions import set_status

pytestmark = pytest.mark.browser

SUPERVISOR = ("sam@monitor.test", "sam-supervises")


def add_supervisor(base: str) -> None:
    """Sam, a supervisor of a queue of their own, Watch (demo conversations go to
    Support)."""
    headers = {"Authorization": f"Bearer {login_token(base, *ADMIN)}"}
    r = httpx.post(
        base + "/api/admin/queues",
        json={"id": "q_watch", "name": "Watch"},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        base + "/api/admin/agents",
        json={
            "id": "ag_sam",
            "email": SUPERVISOR[0],
            "name": "Sam",
            "role": "supervisor",
            "queue_ids": ["q_watch"],
            "password": SUPERVISOR[1],
        },
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text


def test_the_monitor_header_follows_state_agent_and_queue(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    add_supervisor(base)
    admin: Page = login(new_page(), base, ADMIN)
    set_status(admin, "Away")  # so that the offer rings for Ada
    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Lin Ko", "lin@example.com", "Can I change my order?")
    accept_offer(agent, "Lin Ko")

    sam: Page = login(new_page(), base, SUPERVISOR)
    set_status(sam, "Away")  # nothing rings for Sam when it waits in Watch
    sam.get_by_role("link", name="Live").click()
    sam.get_by_role("button", name="Monitor Lin Ko").click()
    head = sam.locator("#conv-head")
    transfer = head.get_by_role("button", name="Transfer")
    monitoring = "Monitoring Lin Ko (read only) · "
    expect(transfer).to_be_visible()
    expect(head).to_contain_text(monitoring + "assigned · Ada (demo agent)")

    # Transferred to another agent: the header names Grace.
    set_status(admin, "Available")
    transfer_to(agent, "Grace (demo admin) (available)")
    ring = admin.get_by_role("alertdialog", name="Incoming chat")
    mine = admin.get_by_role("region", name=re.compile("^Assigned to you"))
    expect(ring.or_(mine.get_by_role("button", name=re.compile("Lin Ko")))).to_be_visible()
    if ring.is_visible():
        accept_offer(admin, "Lin Ko")
    else:
        mine.get_by_role("button", name=re.compile("Lin Ko")).click()
    expect(head).to_contain_text(monitoring + "assigned · Grace (demo admin)")
    expect(head).not_to_contain_text("Ada")
    expect(transfer).to_be_visible()

    # Sent to another queue, where nobody is available: it waits there, with no agent
    # and no Transfer, under its new queue.
    transfer_to(admin, "Watch (queue)")
    expect(transfer).to_have_count(0)
    expect(head).to_contain_text(monitoring + "waiting")
    expect(head.locator(".queue")).to_have_text(["Watch"])
    expect(head).not_to_contain_text("Grace")
    expect(head).not_to_contain_text("null")
    expect(head.get_by_role("button", name="Stop monitoring")).to_be_visible()

    # Assigned after waiting: Transfer is back.
    admin.get_by_role("region", name=re.compile("^Inbox")).get_by_role(
        "button", name="Assign Lin Ko"
    ).click()
    expect(admin.get_by_role("heading", name="Lin Ko", level=2)).to_be_visible()
    expect(transfer).to_be_visible()
    expect(head).to_contain_text(monitoring + "assigned · Grace (demo admin)")

    # Ended (in wrap-up): nothing to transfer any more. No Inbox row of the monitoring
    # console changes here: only the live view says so.
    end_chat(admin, "Lin Ko")
    expect(admin.get_by_role("combobox", name="Disposition")).to_be_visible()
    expect(transfer).to_have_count(0)
    expect(head).to_contain_text(monitoring + "wrapup · Grace (demo admin)")
    expect(sam.get_by_role("textbox", name="Reply")).to_have_count(0)  # still read only


def transfer_to(page: Page, option: str) -> None:
    page.get_by_role("main", name="Conversation with Lin Ko").get_by_role(
        "button", name="Transfer"
    ).click()
    dialog = page.get_by_role("dialog", name="Transfer Lin Ko")
    dialog.get_by_role("combobox", name="Transfer to").select_option(label=option)
    dialog.get_by_role("button", name="Transfer").click()
    expect(dialog).to_be_hidden()
