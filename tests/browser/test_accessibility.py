"""Accessibility: axe-core audits of the widget and the console, screen by screen.
Serious and critical violations fail the test. (Keyboard use: test_embedding.py.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import (
    NewPage,
    accept_offer,
    axe_audit,
    chat_frame,
    end_chat,
    login,
    reply,
    start_chat,
)

pytestmark = pytest.mark.browser


def report(violations: list[dict[str, object]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    {v['nodes']}" for v in violations
    )


def test_axe_widget_and_console(new_page: NewPage, gateway: GatewayProcess) -> None:
    base = gateway.base_url
    # bypass_csp: axe is injected as an inline script, which the pages' CSP forbids.
    agent: Page = new_page(bypass_csp=True)
    agent.goto(base + "/console")
    expect(agent.get_by_role("button", name="Log in")).to_be_visible()
    found = {"console login": axe_audit(agent)}
    login(agent, base)
    found["console empty"] = axe_audit(agent)

    visitor: Page = new_page(bypass_csp=True)
    visitor.goto(base + "/demo")
    expect(visitor.get_by_role("button", name=re.compile("^Open chat"))).to_be_visible()
    found["demo page, widget closed"] = axe_audit(visitor)
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()
    frame = chat_frame(visitor)
    expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
    found["widget form"] = axe_audit(visitor)
    frame.get_by_role("textbox", name="Email").fill("x")
    frame.get_by_role("button", name="Start chat").click()
    expect(frame.get_by_role("textbox", name="Email")).to_have_attribute("aria-invalid", "true")
    found["widget form with errors"] = axe_audit(visitor)
    start_chat(visitor, "Erin", "erin@example.com", "Checking accessibility")

    expect(agent.get_by_role("alertdialog", name="Incoming chat")).to_be_visible()
    found["console ringing"] = axe_audit(agent)
    accept_offer(agent, "Erin")
    reply(agent, "Hello Erin")
    found["console conversation"] = axe_audit(agent)
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Hello Erin")
    found["widget conversation"] = axe_audit(visitor)
    end_chat(agent, "Erin")
    found["console wrap-up"] = axe_audit(agent)
    expect(frame.get_by_role("button", name="Start a new chat")).to_be_visible()
    found["widget ended"] = axe_audit(visitor)

    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())
