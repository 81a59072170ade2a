"""Information from the page (docs/widget.md): the embedding page calls
``GatewayChat.setFields`` before the visitor starts; the touchpoint's hidden field takes
the value, the widget's form does not show it, a flow rule routes on it, and the agent
sees it on the contact card."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import (
    ADMIN,
    NewPage,
    accept_offer,
    chat_frame,
    login,
    open_widget,
    start_chat,
)

pytestmark = pytest.mark.browser

# Queued on the stub before the loader arrives (docs/widget.md): the loader then holds
# it until the chat is ready.
STUB = """
window.seen = [];
window.GatewayChat = { q: [
    ["setFields", { plan: "gold" }],
    ["on", "conversation", (d) => { if (d.type === "started") window.started = d.conversation_id; }],
    ["on", "error", (d) => window.seen.push(d.code)],
] };
"""


def test_a_hidden_field_set_by_the_page_routes_the_conversation(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    token = login_token(base, *ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    form = [
        {"name": "name", "label": "Your name", "max_length": 80},
        {"name": "email", "label": "Email", "kind": "email"},
        {"name": "plan", "label": "Plan", "kind": "hidden", "max_length": 20},
    ]
    flow = {
        "rules": [{"name": "gold", "when": {"fields": {"plan": ["gold"]}}, "then": {"priority": 5}}]
    }
    r = httpx.patch(
        base + "/api/admin/touchpoints/tp_demo_127",
        json={"form": form, "flow": flow},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text

    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.add_init_script(STUB)
    visitor.goto(base + "/demo")
    frame = open_widget(visitor)
    # The form shows the visitor's fields only: the hidden one is the page's.
    expect(frame.get_by_role("textbox", name="Your name")).to_be_visible()
    expect(frame.locator("form.prechat .field")).to_have_count(3)  # name, email, message
    expect(frame.get_by_text("Plan")).to_have_count(0)
    expect(frame.locator("[name='plan']")).to_have_count(0)
    # A name the form does not have is said to the page and never sent: the start works.
    visitor.evaluate("() => GatewayChat.setFields({ session: 's-1' })")
    visitor.wait_for_function("() => seen.includes('unknown_field')")

    start_chat(visitor, "Priya", "priya@example.com", "Is gold support faster?")
    cid = visitor.wait_for_function("() => window.started").json_value()
    r = httpx.get(f"{base}/api/admin/conversations/{cid}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    conv = r.json()
    assert conv["fields"] == {"name": "Priya", "email": "priya@example.com", "plan": "gold"}
    assert conv["priority"] == 5  # the flow rule on the hidden field

    # The agent sees it with the other form fields on the contact card.
    accept_offer(agent, "Priya")
    card = agent.get_by_role("region", name="Contact")
    expect(card.locator("dt").filter(has_text="plan (from the page)")).to_be_visible()
    expect(card.locator("dd").filter(has_text="gold")).to_be_visible()
    assert chat_frame(visitor).locator("[name='plan']").count() == 0
