"""Names and messages cannot reorder themselves on screen (issue 11, item 11).

The gateway strips bidi overrides before it stores text; this is the other half: text
stored before that rule (written here straight into the database) is still shown in
its logical order by both clients. ``"\\u202egnp.exe"`` must read "gnp.exe", never
"exe.png": the test reads the characters in the order Chromium lays them out, left to
right, so it checks what a person sees, not the DOM."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from devkit import services
from devkit.passwords import cheap_hash
from gateway.model.records import Agent, Queue
from tests.browser.conftest import NewPage, accept_offer, chat_frame, login, open_widget, start_chat
from tests.gateway.conftest import seed

pytestmark = pytest.mark.browser

SPOOF = "\u202egnp.exe"  # shows as "exe.png" when the override is obeyed
AGENT = ("rlo@demo.test", "pw-rlo-agent")

# The visible characters of an element in the order they are laid out, left to right.
VISUAL_ORDER = """(el) => {
  const seen = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.width > 0) seen.push([box.left, node.data[i]]);
    }
  }
  return seen.sort((a, b) => a[0] - b[0]).map((x) => x[1]).join("");
}"""


def shown(locator: Locator) -> str:
    return str(locator.evaluate(VISUAL_ORDER))


@pytest.fixture(scope="module")
def db_gateway() -> Iterator[tuple[services.GatewayProcess, Path]]:
    """A demo gateway whose only online agent has a name stored with an override, as it
    could have been before the gateway stripped them."""
    db = Path(tempfile.mkdtemp(prefix="gw-bidi-")) / "gateway.db"
    url = f"sqlite:///{db}"
    seed(
        url,
        queues=[Queue(id="q_support", name="Support")],
        agents=[
            Agent(
                id="ag_rlo",
                email=AGENT[0],
                name=SPOOF,
                queue_ids=["q_support"],
                password_hash=cheap_hash(AGENT[1]),
            )
        ],
    )
    node = services.start_gateway(
        {"GATEWAY_DEMO": "1", "GATEWAY_DATABASE_URL": url, "GATEWAY_OFFER_TIMEOUT": "60"}
    )
    try:
        yield node, db
    finally:
        node.stop()


def _store_spoofs(db: Path) -> None:
    """What an old gateway would have stored: the contact's name and their message."""
    with sqlite3.connect(db, timeout=30) as conn:
        assert conn.execute(
            "UPDATE contacts SET name = ? WHERE name = 'Mallory'", (SPOOF,)
        ).rowcount
        assert conn.execute(
            "UPDATE messages SET body = ? WHERE body = 'my invoice'", (SPOOF,)
        ).rowcount


def test_names_and_messages_show_in_their_own_order(
    new_page: NewPage, db_gateway: tuple[services.GatewayProcess, Path]
) -> None:
    node, db = db_gateway
    base = node.base_url
    agent: Page = login(new_page(), base, AGENT)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Mallory", "mallory@example.com", "my invoice")
    accept_offer(agent, "Mallory")
    _store_spoofs(db)

    # The console, reloaded: everything comes from the store.
    agent.reload()
    expect(agent.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    row_name = agent.locator(".name").filter(has_text="gnp.exe").first
    expect(row_name).to_be_visible()
    assert shown(row_name) == "gnp.exe"
    assert shown(agent.locator("#me")) == "gnp.exe"
    row_name.click()
    title = agent.get_by_role("heading", level=2).filter(has_text="gnp.exe")
    expect(title).to_be_visible()
    assert shown(title) == "gnp.exe"
    bubble = agent.get_by_role("list", name="Messages").locator(".bubble").first
    expect(bubble).to_contain_text("gnp.exe")
    assert shown(bubble) == "gnp.exe"

    # The widget, reloaded: the visitor's own message and the agent's name.
    visitor.reload()
    frame = chat_frame(visitor)  # open as it was
    messages = frame.get_by_role("list", name="Messages")
    expect(messages.locator(".bubble").first).to_contain_text("gnp.exe")
    assert shown(messages.locator(".bubble").first) == "gnp.exe"
    note = messages.locator(".note").filter(has_text="joined").first
    expect(note).to_be_visible()
    assert shown(note).startswith("gnp.exe"), shown(note)
