"""An integration's escalated transcript in the console: the agent reads it as context,
collapsed above the messages, not as messages (console/context.js)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, accept_offer, login, shot

pytestmark = pytest.mark.browser

SECRET = "browser-signing-secret-0123456789abcdef"


def integration_key(base: str) -> str:
    auth = {"Authorization": f"Bearer {login_token(base, *ADMIN)}"}
    body = {
        "id": "tp_app_console",
        "name": "Mobile app",
        "channel": "api",
        "routing_mode": "flow",
        "queue_ids": ["q_support"],
        # nothing listens there: what the agent writes is retried, off the agent's path
        "settings": {"webhook_url": "http://127.0.0.1:9/hooks", "signing_secret": SECRET},
    }
    assert httpx.post(base + "/api/admin/touchpoints", json=body, headers=auth).status_code == 201
    r = httpx.post(base + "/api/admin/touchpoints/tp_app_console/activate", headers=auth)
    assert r.status_code == 200
    r = httpx.post(
        base + "/api/admin/touchpoints/tp_app_console/api-keys", json={"name": "app"}, headers=auth
    )
    return str(r.json()["key"])


def test_the_agent_reads_the_bots_transcript_as_context(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    key = integration_key(base)
    agent: Page = login(new_page(), base)
    r = httpx.post(
        base + "/api/integrations/tp_app_console/conversations",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "console-1"},
        json={
            "contact": {"email": "noor@example.com", "name": "Noor"},
            "subject": "Refund",
            "message": "I would like a person, please.",
            "transcript": [
                {"sender": "contact", "text": "My order arrived broken."},
                {"sender": "bot", "text": "Sorry! Do you want a refund?", "name": "Helper"},
                {"sender": "contact", "text": "Yes."},
            ],
        },
    )
    assert r.status_code == 201, r.text
    accept_offer(agent, "Noor")
    expect(agent.locator("#conv-head")).to_contain_text("Mobile app · Refund")  # the subject
    messages = agent.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("I would like a person, please.")
    context = messages.locator("details")
    expect(context).to_contain_text("Before the escalation: 3 lines with the bot")
    expect(context.get_by_text("Sorry! Do you want a refund?")).to_be_hidden()  # collapsed
    context.locator("summary").click()
    expect(context.get_by_text("Sorry! Do you want a refund?")).to_be_visible()
    expect(context).to_contain_text("Helper")
    shot(agent, "console-escalated-context")
