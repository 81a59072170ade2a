"""The disposition chosen while chatting (FAQ 12: "at that stage or even before"): the
agent picks it beside the thread, hears "Disposition saved", their other console shows
it, the wrap-up form opens with it chosen, and History shows it once wrapped up."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import (
    HeldFrames,
    NewPage,
    accept_offer,
    end_chat,
    login,
    open_widget,
    reply,
    start_chat,
)
from tests.poll import until_page

pytestmark = pytest.mark.browser


def test_a_disposition_chosen_while_chatting_is_kept_for_the_wrap_up(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Noor", "noor@example.com", "Where is order 7731?")
    accept_offer(agent, "Noor")
    reply(agent, "Let me check.")

    # The same agent's other console, with the conversation open.
    other: Page = login(new_page(), base)
    other.get_by_role("region", name=re.compile("^Assigned to you")).get_by_role(
        "button", name=re.compile("Noor")
    ).click()
    expect(other.get_by_role("heading", name="Noor", level=2)).to_be_visible()
    expect(other.get_by_role("combobox", name="Disposition")).to_have_value("")

    pick = agent.get_by_role("combobox", name="Disposition")
    expect(pick).to_have_value("")
    pick.select_option("Follow-up")
    expect(agent.locator("#announcer")).to_have_text("Disposition saved.")
    expect(other.get_by_role("combobox", name="Disposition")).to_have_value("Follow-up")

    end_chat(agent, "Noor")
    wrap = agent.get_by_role("form", name="Wrap-up")
    expect(wrap.get_by_role("combobox", name="Disposition")).to_have_value("Follow-up")
    wrap.get_by_role("textbox", name="Notes").fill("Order 7731 is with the courier")
    wrap.get_by_role("button", name="Finish wrap-up").click()
    expect(agent.get_by_role("status").filter(has_text="Wrap-up saved")).to_be_visible()

    agent.get_by_role("link", name="History").click()
    results = agent.get_by_role("table")
    expect(results.get_by_role("row").filter(has_text="Noor")).to_contain_text("Follow-up")
    results.get_by_role("link", name="Noor").click()
    expect(agent).to_have_url(re.compile(r"#history/cv_"))
    expect(agent.locator("dl.facts")).to_contain_text("Follow-up")
    expect(agent.locator("dl.facts")).to_contain_text("Order 7731 is with the courier")


def test_a_disposition_saved_after_the_end_shows_in_the_wrap_up_form(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    """Chosen beside the thread just before End, its frame behind the end's (a busy
    socket): the gateway saves it during the wrap-up, and the form, already open, shows
    it (it showed "Choose…", and Finish wrap-up refused)."""
    base = gateway.base_url
    agent: Page = new_page()
    route = HeldFrames(agent, "disposition")
    login(agent, base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Ravi", "ravi@example.com", "My parcel is damaged")
    accept_offer(agent, "Ravi")

    agent.get_by_role("combobox", name="Disposition").select_option("Spam")
    until_page(agent, lambda: route.held, what="the disposition frame, held")
    end_chat(agent, "Ravi")
    pick = agent.get_by_role("form", name="Wrap-up").get_by_role("combobox", name="Disposition")
    expect(pick).to_have_value("")

    route.release()
    expect(agent.locator("#announcer")).to_have_text("Disposition saved.")
    expect(pick).to_have_value("Spam")
    agent.get_by_role("button", name="Finish wrap-up").click()
    expect(agent.get_by_role("status").filter(has_text="Wrap-up saved")).to_be_visible()
